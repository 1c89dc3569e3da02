"""Writing the audit trail, and reading one's own activity."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

from oso import Variable
from pydantic import BaseModel, Field
from sqlalchemy import Row, insert, select
from sqlalchemy.orm import Session, aliased
from sqlmodel import SQLModel, col

from core.audit import canonical, chain
from core.context import PaymentStep, PendingActivity, RequestContext
from core.db import table_of
from core.models.audit import ActivityRecord, ChangeRecord, DecisionRecord
from core.models.iam import User
from core.pagination import MAX_BIG_KEY, Page, PageRequest, paginate
from core.policy import engine as policy_engine
from core.policy.facts import Resource
from core.policy.service import authorize, require_readable


class ActivityPublic(BaseModel):
    id: int
    at: dt.datetime
    action: str = Field(
        description="The permission used (payment.create, transfer.create, ...); for a step of "
        "your payment: payment.approve, payment.reject, payment.cancel by someone else, or "
        "what became of it: payment.posted, .sent, .scheduled, .expired, .failed"
    )
    step: bool = Field(
        default=False,
        description="A step of a payment you prepared, taken by someone else or by Mandate",
    )
    acted_by: int | None = Field(
        default=None,
        description="Who acted: you, or for a step of your payment the person who took it "
        "(null: Mandate itself, e.g. an expiry or an execution on its date)",
    )
    payment_id: int | None = None
    payment_batch_id: int | None = Field(
        default=None, description="The payment batch the action or step was about"
    )
    outcome: Literal["succeeded", "replayed", "refused", "failed"]
    status_code: int
    error: str | None
    detail: str
    account_id: int | None
    counterparty_account_id: int | None
    amount: int | None
    currency: str | None
    transfer_id: int | None
    idempotency_key: str | None


_DECISIONS = table_of(DecisionRecord)
_CHANGES = table_of(ChangeRecord)
# The ids come back in the order the rows were given, for their chain links.
_INSERT_DECISIONS = insert(_DECISIONS).returning(_DECISIONS.c.id, sort_by_parameter_order=True)
_INSERT_CHANGES = insert(_CHANGES).returning(_CHANGES.c.id, sort_by_parameter_order=True)
_INSERT_ACTIVITY = insert(table_of(ActivityRecord))


def _row(record: SQLModel) -> dict[str, Any]:
    # Core inserts: the audit rows are written, never read back in the same request.
    return {k: v for k, v in record.__dict__.items() if not k.startswith("_") and k != "id"}


def write_trail(
    session: Session,
    ctx: RequestContext,
    *,
    status_code: int,
    error_code: str | None = None,
    detail: str = "",
    fallback_action: str | None = None,
) -> None:
    """Add the request's decisions, changes and activity to `session` (not committed here)."""
    batch_id = ctx.audit.payment_batch_id
    if ctx.audit.decisions:
        if batch_id is not None:
            for decision in ctx.audit.decisions:
                decision.payment_batch_id = decision.payment_batch_id or batch_id
        _write_chained(session, _INSERT_DECISIONS, canonical.DECISIONS, ctx.audit.decisions)
    if error_code is None and ctx.audit.changes:
        _write_chained(session, _INSERT_CHANGES, canonical.CHANGES, ctx.audit.changes)
    if error_code is None and ctx.audit.steps:
        session.connection().execute(
            _INSERT_ACTIVITY, [_row(_step_record(s, ctx.now())) for s in ctx.audit.steps]
        )
    actor = ctx.actor
    pending = ctx.audit.activity
    if actor is None or (pending is None and fallback_action is None):
        return
    if error_code is None:
        outcome = "replayed" if pending is not None and pending.replayed else "succeeded"
    else:
        outcome = "refused" if status_code in (403, 404) else "failed"
    record = ActivityRecord(
        at=ctx.now(),
        user_id=actor.user_id,
        tenant_id=actor.tenant_id,
        action=pending.action if pending else fallback_action or "",
        outcome=outcome,
        status_code=status_code,
        error_code=error_code,
        detail=detail[:500],
        payment_batch_id=batch_id,
    )
    if pending is not None:
        record.account_id = pending.account_id
        record.counterparty_account_id = pending.counterparty_account_id
        record.amount = pending.amount
        record.currency = pending.currency
        record.transfer_id = pending.transfer_id
        record.idempotency_key = pending.idempotency_key
        record.target = _fit(pending.target, TARGET_LENGTH)
        if pending.replayed and not detail:
            record.detail = (
                f"replayed: transfer {pending.transfer_id} was already made with this key"
            )
        elif error_code is None and not detail:
            record.detail = (pending.done or _done_by_default(pending))[:500]
    session.connection().execute(_INSERT_ACTIVITY, _row(record))


def _write_chained(session: Session, statement: Any, table: str, records: list[Any]) -> None:
    """Insert decisions or changes and note each for its chain (sealed at commit)."""
    rows = [_row(record) for record in records]
    ids = session.connection().execute(statement, rows).scalars().all()
    for record_id, row in zip(ids, rows, strict=True):
        chain.note(session, table, record_id, row)


def _step_record(step: PaymentStep, at: dt.datetime) -> ActivityRecord:
    """A step of someone's payment, as a row of their activity: it succeeded (it happened)."""
    return ActivityRecord(
        at=at,
        user_id=step.user_id,
        tenant_id=step.tenant_id,
        action=step.action,
        outcome="succeeded",
        status_code=200,
        detail=step.detail[:500],
        account_id=step.account_id,
        amount=step.amount,
        currency=step.currency,
        transfer_id=step.transfer_id,
        step=True,
        acted_by_id=step.acted_by,
        payment_id=step.payment_id,
        payment_batch_id=step.payment_batch_id,
    )


def _done_by_default(pending: PendingActivity) -> str:
    """Words for a success no service described: the permission used, and on what."""
    engine = policy_engine.current()
    answers = engine.query("permission", pending.action, Variable("level"), Variable("text"))
    what = str(answers[0]["text"]).rstrip(".") if answers else pending.action
    return f"{what}: {pending.target}" if pending.target else what


# ActivityRecord.target's column: a target names what was acted on ("new tenant <name>");
# the change log keeps the full names.
TARGET_LENGTH = 100


def _fit(text: str | None, length: int) -> str | None:
    """`text`, cut to `length` characters with an ellipsis if it is longer."""
    if text is None or len(text) <= length:
        return text
    return text[: length - 1] + "…"


def my_activity(
    session: Session, ctx: RequestContext, *, cursor: str | None = None, limit: int | None = None
) -> Page[ActivityPublic]:
    """The caller's own recent actions, newest first, refused attempts included, and the
    steps others (or Mandate) took on payments the caller prepared: each written to the
    caller's own activity when it happened, so nothing of anyone else's is read here."""
    actor = ctx.require_actor()
    authorize(session, ctx, "self.read", Resource.of_actor(actor))
    page = PageRequest.of(cursor, limit, max_key=MAX_BIG_KEY)
    stmt = select(ActivityRecord).where(col(ActivityRecord.user_id) == actor.user_id)

    def activity_public(r: ActivityRecord) -> ActivityPublic:
        return ActivityPublic(
            id=r.id,
            at=r.at,
            action=r.action,
            outcome=r.outcome,
            status_code=r.status_code,
            error=r.error_code,
            detail=r.detail,
            account_id=r.account_id,
            counterparty_account_id=r.counterparty_account_id,
            amount=r.amount,
            currency=r.currency,
            transfer_id=r.transfer_id,
            idempotency_key=r.idempotency_key,
            step=r.step,
            acted_by=r.acted_by_id if r.step else r.user_id,
            payment_id=r.payment_id,
            payment_batch_id=r.payment_batch_id,
        )

    key = col(ActivityRecord.id)
    return paginate(session, stmt, key, page, shape=activity_public, newest_first=True)


# -- for compliance: the decision log, the change log, the policy as loaded -----------------


class ChangePublic(BaseModel):
    id: int
    at: dt.datetime
    actor_id: int
    actor_username: str
    tenant_id: int | None
    entity: str
    entity_id: int
    change: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    # Applied by a change request (dual administration): actor_id asked for it at
    # requested_at, approved_by_id approved it, and `at` is when it was applied.
    change_request_id: int | None = None
    requested_at: dt.datetime | None = None
    approved_by_id: int | None = None
    approved_by_username: str | None = None


class PolicyFilePublic(BaseModel):
    name: str
    text: str


class PolicyPublic(BaseModel):
    version: str
    files: list[PolicyFilePublic]


def changes(
    session: Session,
    ctx: RequestContext,
    *,
    tenant_id: int | None = None,
    entity: str | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[ChangePublic]:
    """Every change to users, roles, grants and caps in the caller's bank, newest first."""
    actor = ctx.require_actor()
    require_readable(
        session, ctx, "change.read", Resource.of_bank(actor.bank_id), not_found="not found"
    )
    page = PageRequest.of(cursor, limit, max_key=MAX_BIG_KEY)
    approver = aliased(User)
    approver_name: Any = col(approver.username).label("approver")
    stmt = (
        select(ChangeRecord, col(User.username), approver_name)
        .join(User, col(User.id) == col(ChangeRecord.actor_id))
        .outerjoin(approver, col(approver.id) == col(ChangeRecord.approved_by_id))
        .where(col(ChangeRecord.bank_id) == actor.bank_id)
    )
    if tenant_id is not None:
        stmt = stmt.where(col(ChangeRecord.tenant_id) == tenant_id)
    if entity is not None:
        stmt = stmt.where(col(ChangeRecord.entity) == entity)

    def change_public(row: Row[Any]) -> ChangePublic:
        r = row.ChangeRecord
        return ChangePublic(
            id=r.id,
            at=r.at,
            actor_id=r.actor_id,
            actor_username=row.username,
            tenant_id=r.tenant_id,
            entity=r.entity,
            entity_id=r.entity_id,
            change=r.change,
            before=json.loads(r.before) if r.before else None,
            after=json.loads(r.after) if r.after else None,
            change_request_id=r.change_request_id,
            requested_at=r.requested_at,
            approved_by_id=r.approved_by_id,
            approved_by_username=row.approver,
        )

    key = col(ChangeRecord.id)
    return paginate(session, stmt, key, page, shape=change_public, newest_first=True)


def loaded_policy(session: Session, ctx: RequestContext) -> PolicyPublic:
    """The policy files exactly as this process loaded them, and their version."""
    actor = ctx.require_actor()
    require_readable(
        session, ctx, "policy.read", Resource.of_bank(actor.bank_id), not_found="not found"
    )
    engine = policy_engine.current()
    return PolicyPublic(
        version=engine.version,
        files=[PolicyFilePublic(name=f.name, text=f.text) for f in engine.files],
    )
