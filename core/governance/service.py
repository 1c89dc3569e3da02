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

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import Actor, AuditTrail, RequestContext
from core.errors import MandateError, NotFound
from core.governance import repository
from core.governance.facts import decision_resource
from core.governance.kinds import KINDS, Payload, Target
from core.governance.payloads import forget_secrets
from core.governance.public import dumps, jsonable, request_public
from core.governance.schemas import ChangeRequestPublic
from core.ledger import idempotency
from core.models.audit import ChangeRecord
from core.models.governance import ChangeRequest
from core.models.iam import Bank, Tenant, User
from core.pagination import Page, PageRequest, paginate
from core.policy.facts import Resource
from core.policy.filters import readable_in_tenant, within_reach
from core.policy.service import check, permit, require_readable

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
    before = jsonable(kind.before(session, ctx, target))
    changes_before = len(ctx.audit.changes)
    savepoint = session.begin_nested()
    try:
        after = jsonable(kind.apply(session, ctx, target, payload))
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
        before=dumps(before),
        after=dumps(after),
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
    """Whether the caller may approve and reject the request now (the console's buttons),
    nothing logged; once they give a code if the company asks for a step-up
    (Verdict.possible). The request's facts are gathered once for both."""
    request = _load(session, ctx, request_id, lock=False)
    resource = decision_resource(session, ctx, request)
    return {
        action: check(session, ctx, action, resource, record=False).possible
        for action in ("change_request.approve", "change_request.reject")
    }


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
    forget_secrets(request)
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
    forget_secrets(request)
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
        now_before = jsonable(kind.before(session, ctx, target))
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
    shaped = jsonable(result)
    if kind.creates and isinstance(shaped, dict):
        request.result_id = shaped.get("id")
    request.after = dumps(shaped) if shaped is not None else request.after
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


# -- loading and shaping ---------------------------------------------------------------------


def _load(session: Session, ctx: RequestContext, request_id: int, *, lock: bool) -> ChangeRequest:
    missing = f"change request {request_id} not found"
    # Scoped in SQL first: another tenant's request is as absent as one that does not exist.
    reach = within_reach(
        ctx.require_actor(),
        tenant_column=col(ChangeRequest.tenant_id),
        bank_column=col(ChangeRequest.bank_id),
    )
    request = (
        repository.lock_request(session, request_id, within=reach)
        if lock
        else repository.change_request(session, request_id, within=reach)
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
