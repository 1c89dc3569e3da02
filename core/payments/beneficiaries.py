"""TEMPORARY (replaced by the beneficiaries branch): the two helpers payments use."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import Forbidden, NotFound
from core.models.iam import Tenant
from core.models.payments import Beneficiary
from core.policy.facts import Resource
from core.policy.service import require_readable


def usable_beneficiary(session: Session, ctx: RequestContext, beneficiary_id: int) -> Beneficiary:
    actor = ctx.require_actor()
    missing = f"beneficiary {beneficiary_id} not found"
    found = session.get(Beneficiary, beneficiary_id)
    if found is None or found.deleted_at is not None:
        raise NotFound(missing)
    # Loaded as every guard loads its resource: with its read permission, asked of the policy.
    resource = Resource("beneficiary", found.id, found.tenant_id, found.bank_id)
    require_readable(session, ctx, "beneficiary.read", resource, not_found=missing)
    if found.tenant_id != actor.tenant_id:
        raise NotFound(missing)
    if found.status != "active":
        raise Forbidden("the beneficiary awaits approval", code="beneficiary_not_approved")
    return found


def is_new(beneficiary: Beneficiary, tenant: Tenant, now: dt.datetime) -> bool:
    return now - beneficiary.created_at < dt.timedelta(hours=tenant.new_beneficiary_hours)
