"""Writing the audit trail, and reading one's own activity."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit.models import ActivityRecord
from core.context import RequestContext
from core.errors import InvalidRequest
from core.pagination import DEFAULT_PAGE, MAX_PAGE, Page, decode_cursor, encode_cursor
from core.policy.facts import Resource
from core.policy.service import authorize


class ActivityPublic(BaseModel):
    id: int
    at: dt.datetime
    action: str
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
    session.add_all(ctx.audit.decisions)
    if error_code is None:
        session.add_all(ctx.audit.changes)
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
    )
    if pending is not None:
        record.account_id = pending.account_id
        record.counterparty_account_id = pending.counterparty_account_id
        record.amount = pending.amount
        record.currency = pending.currency
        record.transfer_id = pending.transfer_id
        record.idempotency_key = pending.idempotency_key
        record.target = pending.target
        if pending.replayed and not detail:
            record.detail = (
                f"replayed: transfer {pending.transfer_id} was already made with this key"
            )
    session.add(record)


def my_activity(
    session: Session, ctx: RequestContext, *, cursor: str | None = None, limit: int | None = None
) -> Page[ActivityPublic]:
    """The caller's own recent actions, newest first, refused attempts included."""
    actor = ctx.require_actor()
    authorize(
        session, ctx, "self.read", Resource("user", actor.user_id, actor.tenant_id, actor.bank_id)
    )
    size = limit or DEFAULT_PAGE
    if not 1 <= size <= MAX_PAGE:
        raise InvalidRequest(f"limit is between 1 and {MAX_PAGE}")
    stmt = (
        select(ActivityRecord)
        .where(ActivityRecord.user_id == actor.user_id)
        .order_by(ActivityRecord.id.desc())
        .limit(size + 1)
    )
    before = decode_cursor(cursor)
    if before is not None:
        stmt = stmt.where(ActivityRecord.id < before)
    rows = list(session.scalars(stmt))
    items = [
        ActivityPublic(
            id=r.id,  # type: ignore[arg-type]
            at=r.at,
            action=r.action,
            outcome=r.outcome,  # type: ignore[arg-type]
            status_code=r.status_code,
            error=r.error_code,
            detail=r.detail,
            account_id=r.account_id,
            counterparty_account_id=r.counterparty_account_id,
            amount=r.amount,
            currency=r.currency,
            transfer_id=r.transfer_id,
            idempotency_key=r.idempotency_key,
        )
        for r in rows[:size]
    ]
    next_cursor = encode_cursor(rows[size - 1].id) if len(rows) > size else None  # type: ignore[arg-type]
    return Page(items=items, next_cursor=next_cursor)
