"""Change requests: asked by one person, applied when a second one approves.

A governed operation (core.governance.operations) either applies at once — dual
administration is off for the caller (a corporate admin: the company's `dual_admin`, or the
bank's `dual_admin_mandatory`; bank staff: the bank's `dual_control`) — or is *tried* inside
a savepoint that is always rolled back: the operation runs as it would (the policy checks the
requester, the body is checked), what it would give is kept as the predicted "after", and a
ChangeRequest stores the body. Nothing else of the try remains.

Approving locks the request, asks the policy (change_request.approve: who may approve, the
sock-puppet conditions of policies/conditions.polar; the facts are gathered here), reads the
"before" again (changed meanwhile: refused, change_request_stale), and applies the stored body
by the same operation, as the requester, in the approver's transaction, inside a savepoint: if
the requester may no longer do it, or it no longer validates, the savepoint rolls back and the
request is refused with the reason. Applied or refused, exactly once."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import Actor, AuditTrail, RequestContext
from core.errors import MandateError, NotFound
from core.governance import repository
from core.governance.kinds import KINDS, Payload, Target
from core.governance.schemas import ChangeRequestLinks, ChangeRequestPublic
from core.ledger import idempotency
from core.models.audit import ChangeRecord
from core.models.governance import ChangeRequest
from core.models.iam import Bank, Tenant, User
from core.pagination import Page, PageRequest, paginate
from core.policy.facts import Resource
from core.policy.filters import readable_in_tenant
from core.policy.service import check, permit, require_readable

# Whom a bank manager created, or gave a grant, within this many days is no second bank
# manager for them (a company's own number is its dual_admin_trust_days).
BANK_TRUST_DAYS = 30
# Why applying a request was refused, besides the error code applying raised.
STALE = "change_request_stale"
REQUESTER_INACTIVE = "requester_inactive"


def needs_second_person(session: Session, actor: Actor) -> bool:
    """Whether the caller's changes wait for a second person."""
    bank = session.get(Bank, actor.bank_id)
    assert bank is not None
    if actor.tenant_id is None:
        return bank.dual_control
    tenant = session.get(Tenant, actor.tenant_id)
    assert tenant is not None
    return tenant.dual_admin or bank.dual_admin_mandatory


def request_change(
    session: Session, ctx: RequestContext, kind_name: str, target: Target, payload: Payload
) -> ChangeRequestPublic:
    """Try the change as the caller (refused as the operation would refuse it), keep nothing
    of it but its prediction, and store it as a change request awaiting a second person."""
    actor = ctx.require_actor()
    kind = KINDS[kind_name]
    before = _jsonable(kind.before(session, ctx, target))
    changes_before = len(ctx.audit.changes)
    savepoint = session.begin_nested()
    try:
        after = _jsonable(kind.apply(session, ctx, target, payload))
    finally:
        savepoint.rollback()
        # The try changed nothing: neither its change records nor the facts it read stay.
        del ctx.audit.changes[changes_before:]
        ctx.policy_memo.clear()
    if kind.creates and isinstance(after, dict):
        after["id"] = None
    activity = ctx.audit.activity
    summary = (activity.done if activity and activity.done else kind_name)[:300]
    bank = session.get(Bank, actor.bank_id)
    assert bank is not None
    now = ctx.now()
    request = ChangeRequest(
        bank_id=actor.bank_id,
        tenant_id=actor.tenant_id,
        kind=kind_name,
        target=json.dumps(target, sort_keys=True),
        payload=json.dumps(payload, sort_keys=True, default=str),
        before=_dumps(before),
        after=_dumps(after),
        summary=summary,
        requested_by_id=actor.user_id,
        created_at=now,
        expires_at=now + dt.timedelta(hours=bank.change_request_hours),
    )
    session.add(request)
    session.flush()
    ctx.audit.done(f"asked a second person to approve change request {request.id}: {summary}")
    return request_public(session, request, now)


def get_request(session: Session, ctx: RequestContext, request_id: int) -> ChangeRequestPublic:
    request = _load(session, ctx, request_id, lock=False)
    return request_public(session, request, ctx.now())


def list_requests(
    session: Session,
    ctx: RequestContext,
    *,
    status: str | None = None,
    requester: int | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[ChangeRequestPublic]:
    """The change requests the caller may see, newest first."""
    page = PageRequest.of(cursor, limit)
    where = readable_in_tenant(
        session,
        ctx,
        "change_request.read",
        tenant_column=col(ChangeRequest.tenant_id),
        bank_column=col(ChangeRequest.bank_id),
    )
    now = ctx.now()
    stmt = select(ChangeRequest).where(where)
    if status is not None:
        stmt = stmt.where(repository.status_is(status, now))
    if requester is not None:
        stmt = stmt.where(col(ChangeRequest.requested_by_id) == requester)
    if kind is not None:
        stmt = stmt.where(col(ChangeRequest.kind) == kind)
    return paginate(
        session,
        stmt,
        col(ChangeRequest.id),
        page,
        shape=lambda r: request_public(session, r, now),
        newest_first=True,
    )


def count_pending(session: Session, ctx: RequestContext) -> int:
    """How many pending requests of others the caller may see (the console's sidebar)."""
    where = readable_in_tenant(
        session,
        ctx,
        "change_request.read",
        tenant_column=col(ChangeRequest.tenant_id),
        bank_column=col(ChangeRequest.bank_id),
    )
    actor = ctx.require_actor()
    level = (
        col(ChangeRequest.tenant_id).is_(None)
        if actor.is_staff
        else col(ChangeRequest.tenant_id) == actor.tenant_id
    )
    return repository.count_where(
        session,
        where
        & level
        & repository.status_is("pending", ctx.now())
        & (col(ChangeRequest.requested_by_id) != actor.user_id),
    )


def may_decide(session: Session, ctx: RequestContext, request_id: int) -> dict[str, bool]:
    """Whether the caller may approve and reject the request now (the console's buttons)."""
    request = _load(session, ctx, request_id, lock=False)
    return {
        action: permit_quietly(session, ctx, request, action)
        for action in ("change_request.approve", "change_request.reject")
    }


def permit_quietly(
    session: Session, ctx: RequestContext, request: ChangeRequest, action: str
) -> bool:
    """Whether the policy allows the caller `action` on the request (nothing logged)."""
    resource = decision_resource(session, ctx, request)
    return check(session, ctx, action, resource, record=False).allowed


def approve(
    session: Session, ctx: RequestContext, request_id: int, idempotency_key: str | None = None
) -> ChangeRequestPublic:
    """Approve a change request someone else asked for: apply it now, as its requester, or
    refuse it with the reason when it no longer fits (nothing of it is applied then)."""
    actor = ctx.require_actor()
    ctx.audit.attempt(
        "change_request.approve",
        idempotency_key=idempotency_key,
        target=f"change request {request_id}",
    )
    ticket = None
    if idempotency_key is not None:
        key = idempotency.validate_key(idempotency_key)
        ticket = idempotency.hold(
            session, actor, key, "change_request.approve", {"change_request_id": request_id}
        )
        earlier = idempotency.stored(session, ticket)
        if earlier is not None:
            _load(session, ctx, request_id, lock=False)
            ctx.audit.activity.replayed = True  # type: ignore[union-attr]
            return ChangeRequestPublic.model_validate(idempotency.replay(earlier, ticket))
    request = _load(session, ctx, request_id, lock=True)
    permit(
        session,
        ctx,
        "change_request.approve",
        decision_resource(session, ctx, request),
        not_found=f"change request {request_id} not found",
    )
    now = ctx.now()
    request.decided_by_id = actor.user_id
    request.decided_at = now
    refusal = _apply(session, ctx, request)
    if refusal is None:
        request.status = "applied"
        ctx.audit.done(f"approved change request {request_id}: {request.summary}")
    else:
        request.status = "refused"
        request.reason, request.reason_detail = refusal
        ctx.audit.done(f"approved change request {request_id}, which was refused: {refusal[1]}")
    session.flush()
    public = request_public(session, request, now)
    if ticket is not None:
        idempotency.store(
            session, ticket, body=public.model_dump(mode="json"), transfer_id=None, at=now
        )
    return public


def reject(
    session: Session, ctx: RequestContext, request_id: int, reason: str = ""
) -> ChangeRequestPublic:
    """Reject a change request (its requester may withdraw their own): nothing is applied."""
    actor = ctx.require_actor()
    ctx.audit.attempt("change_request.reject", target=f"change request {request_id}")
    request = _load(session, ctx, request_id, lock=True)
    permit(
        session,
        ctx,
        "change_request.reject",
        decision_resource(session, ctx, request),
        not_found=f"change request {request_id} not found",
    )
    now = ctx.now()
    request.status = "rejected"
    request.decided_by_id = actor.user_id
    request.decided_at = now
    request.reason = "rejected"
    request.reason_detail = reason or None
    session.flush()
    ctx.audit.done(f"rejected change request {request_id}: {request.summary}")
    return request_public(session, request, now)


# -- applying --------------------------------------------------------------------------------


def _apply(session: Session, ctx: RequestContext, request: ChangeRequest) -> tuple[str, str] | None:
    """Apply the request as its requester, in a savepoint; None when applied, else (reason,
    sentence) and nothing of it is kept."""
    kind = KINDS[request.kind]
    requester = session.get(User, request.requested_by_id)
    assert requester is not None
    if not requester.is_active:
        return REQUESTER_INACTIVE, f"{requester.display_name} is no longer active."
    target: Target = json.loads(request.target)
    payload: Payload = json.loads(request.payload)
    try:
        now_before = _jsonable(kind.before(session, ctx, target))
    except NotFound as exc:
        return STALE, f"What it changes is gone: {exc}."
    if now_before != repository.loads(request.before):
        return STALE, "What it changes was changed since it was asked: ask again."
    as_requester = RequestContext(actor=_actor(requester), clock=ctx.clock, audit=AuditTrail())
    as_requester._now = ctx.now()
    savepoint = session.begin_nested()
    try:
        result = kind.apply(session, as_requester, target, payload)
    except MandateError as exc:
        savepoint.rollback()
        ctx.audit.decisions.extend(as_requester.audit.decisions)
        return exc.code, str(exc)
    savepoint.commit()
    ctx.policy_queries += as_requester.policy_queries
    ctx.audit.decisions.extend(as_requester.audit.decisions)
    for change in as_requester.audit.changes:
        ctx.audit.changes.append(_approved(change, request, ctx))
    shaped = _jsonable(result)
    if kind.creates and isinstance(shaped, dict):
        request.result_id = shaped.get("id")
    request.after = _dumps(shaped) if shaped is not None else request.after
    return None


def _approved(change: ChangeRecord, request: ChangeRequest, ctx: RequestContext) -> ChangeRecord:
    change.change_request_id = request.id
    change.requested_at = request.created_at
    change.approved_by_id = ctx.require_actor().user_id
    return change


def _actor(user: User) -> Actor:
    assert user.id is not None
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        bank_id=user.bank_id,
        tenant_id=user.tenant_id,
    )


# -- the facts the policy decides on ---------------------------------------------------------


def decision_resource(session: Session, ctx: RequestContext, request: ChangeRequest) -> Resource:
    """The change request as the policy sees it: where it stands, and how the person asking
    stands to it (policies/decide.polar documents each fact)."""
    actor = ctx.require_actor()
    gaining = _gaining_rights(session, request)
    since = ctx.now() - dt.timedelta(days=_trust_days(session, request))
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
            (
                "actor_created_by_requester",
                repository.empowered_by(session, [actor.user_id], request.requested_by_id, since),
            ),
            (
                "gives_rights_to_actor_creation",
                repository.empowered_by(session, gaining, actor.user_id, since),
            ),
        ),
    )


def _gaining_rights(session: Session, request: ChangeRequest) -> set[int]:
    """The users the change gives new rights: a grant's grantee (given or changed), a role's
    holders (its permissions or limits changed), a user reactivated."""
    target: Target = json.loads(request.target)
    payload: Payload = json.loads(request.payload)
    if request.kind == "grant.create":
        return {int(payload["user_id"])}
    if request.kind == "grant.update":
        grantee = repository.grantee_of(session, int(target["grant_id"]))
        return {grantee} if grantee is not None else set()
    if request.kind == "role.update":
        return repository.holders_of_role(session, int(target["role_id"]))
    if request.kind == "user.update" and payload.get("is_active") is True:
        return {int(target["user_id"])}
    return set()


def _trust_days(session: Session, request: ChangeRequest) -> int:
    if request.tenant_id is None:
        return BANK_TRUST_DAYS
    tenant = session.get(Tenant, request.tenant_id)
    assert tenant is not None
    return tenant.dual_admin_trust_days


# -- loading and shaping ---------------------------------------------------------------------


def _load(session: Session, ctx: RequestContext, request_id: int, *, lock: bool) -> ChangeRequest:
    missing = f"change request {request_id} not found"
    request = (
        repository.lock_request(session, request_id)
        if lock
        else session.get(ChangeRequest, request_id)
    )
    if request is None:
        raise NotFound(missing)
    require_readable(
        session,
        ctx,
        "change_request.read",
        Resource("change_request", request.id, request.tenant_id, request.bank_id),
        not_found=missing,
    )
    return request


def request_public(
    session: Session, request: ChangeRequest, now: dt.datetime
) -> ChangeRequestPublic:
    assert request.id is not None
    names = repository.names_of(session, [request.requested_by_id, request.decided_by_id])
    status = request.status
    if status == "pending" and request.expires_at <= now:
        status = "expired"
    base = f"/v1/change-requests/{request.id}"
    return ChangeRequestPublic(
        id=request.id,
        kind=request.kind,
        status=status,
        tenant_id=request.tenant_id,
        summary=request.summary,
        target=json.loads(request.target),
        before=repository.loads(request.before),
        after=repository.loads(request.after),
        requested_by=request.requested_by_id,
        requested_by_name=names.get(request.requested_by_id, ""),
        created_at=request.created_at,
        expires_at=request.expires_at,
        decided_by=request.decided_by_id,
        decided_by_name=names.get(request.decided_by_id) if request.decided_by_id else None,
        decided_at=request.decided_at,
        reason=request.reason,
        reason_detail=request.reason_detail,
        result_id=request.result_id,
        links=ChangeRequestLinks(self=base, approve=f"{base}/approve", reject=f"{base}/reject"),
    )


def _jsonable(value: Any) -> Any:
    return None if value is None else to_jsonable_python(value)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)
