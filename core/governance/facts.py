"""The facts the policy decides a change request on (policies/decide.polar documents each):
where it stands, and how the person asking stands to it — the sock-puppet chain's facts, the
ties between people among them (core.policy.ties). Gathered here; decided by the policy
(conditions.polar)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.governance import repository, widening
from core.governance.kinds import Payload, Target
from core.models.governance import ChangeRequest
from core.models.iam import Bank, Tenant, User
from core.policy import ties
from core.policy.facts import Resource


def decision_resource(session: Session, ctx: RequestContext, request: ChangeRequest) -> Resource:
    """The change request as the policy sees it, for the person asking now: whether they are
    tied to the requester, and whether it gives new rights to anyone tied to them (ties since
    the trust days, either way and through chains: core.policy.ties)."""
    actor = ctx.require_actor()
    person = session.get(User, actor.user_id)
    assert person is not None
    gaining = gaining_rights(session, request)
    since = ctx.now() - dt.timedelta(days=trust_days(session, request))
    tied = ties.ties_of(session, person, since=since)
    return Resource(
        "change_request",
        request.id,
        request.tenant_id,
        request.bank_id,
        extra=(
            ("status", request.status),
            ("expires_at", int(request.expires_at.timestamp())),
            ("requested_by_actor", request.requested_by_id == actor.user_id),
            ("gives_actor_rights", actor.user_id in gaining),
            ("tied_to_requester", tied.include_any([request.requested_by_id])),
            ("gives_rights_to_tied_user", tied.include_any(gaining)),
        ),
    )


def gaining_rights(session: Session, request: ChangeRequest) -> set[int]:
    """The users the change gives new rights: a grant's grantee (given, or changed in a way
    that widens it), a role's holders (its permissions or limits widened: core.governance.
    widening), a user reactivated. A change that only narrows gives nobody new rights."""
    target: Target = json.loads(request.target)
    payload: Payload = json.loads(request.payload)
    before, after = repository.loads(request.before), repository.loads(request.after)
    if request.kind == "grant.create":
        return {int(payload["user_id"])}
    if request.kind == "grant.update" and widening.grant_widens(before, after):
        grantee = repository.grantee_of(session, int(target["grant_id"]))
        return {grantee} if grantee is not None else set()
    if request.kind == "role.update" and widening.role_widens(before, after):
        return repository.holders_of_role(session, int(target["role_id"]))
    if request.kind == "user.update" and payload.get("is_active") is True:
        return {int(target["user_id"])}
    return set()


def trust_days(session: Session, request: ChangeRequest) -> int:
    """For how many days ties count: the company's dual_admin_trust_days, or the bank's for
    its own requests."""
    if request.tenant_id is None:
        bank = session.get(Bank, request.bank_id)
        assert bank is not None
        return bank.dual_admin_trust_days
    tenant = session.get(Tenant, request.tenant_id)
    assert tenant is not None
    return tenant.dual_admin_trust_days
