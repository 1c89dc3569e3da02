"""TEMPORARY (replaced by the beneficiaries branch): the two helpers payments use."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import Forbidden, NotFound
from core.models.iam import Tenant
from core.models.payments import Beneficiary


def usable_beneficiary(session: Session, ctx: RequestContext, beneficiary_id: int) -> Beneficiary:
    actor = ctx.require_actor()
    found = session.get(Beneficiary, beneficiary_id)
    if found is None or found.deleted_at is not None or found.tenant_id != actor.tenant_id:
        raise NotFound(f"beneficiary {beneficiary_id} not found")
    if found.status != "active":
        raise Forbidden("the beneficiary awaits approval", code="beneficiary_not_approved")
    return found


def is_new(beneficiary: Beneficiary, tenant: Tenant, now: dt.datetime) -> bool:
    return now - beneficiary.created_at < dt.timedelta(hours=tenant.new_beneficiary_hours)
