"""The decision log, for compliance: the bank's decisions, filtered and paged, and one
decision with the facts it was made on (what an impact report's sample ids point to)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import Actor, RequestContext
from core.errors import InvalidRequest, NotFound
from core.models.audit import DecisionRecord
from core.models.iam import User
from core.pagination import MAX_BIG_KEY, Page, PageRequest, paginate
from core.policy import recorded
from core.policy.facts import Resource
from core.policy.matrix import actions
from core.policy.service import require_readable


class DecisionPublic(BaseModel):
    id: int
    at: dt.datetime
    actor_id: int
    actor_username: str
    asked_by_id: int | None = Field(
        default=None,
        description="Who asked about the actor: a decision service (AuthZEN, /access/v1); "
        "null when the actor's own request made the decision",
    )
    tenant_id: int | None
    action: str
    resource_type: str
    resource_id: int | None
    account_id: int | None
    amount: int | None
    currency: str | None
    decision: Literal["allow", "deny"]
    reason: str
    grant_id: int | None
    detail: str
    policy_version: str
    # The company's extension it was made with (its version's hash); null: none.
    extension_version: str | None
    eval_us: int
    payment_batch_id: int | None = Field(
        default=None,
        description="The payment batch decided on: each item's decision, and the batch's approvals",
    )


class DecisionWithFacts(DecisionPublic):
    """A decision as the log lists it, and the facts it was made on (core.policy.recorded:
    ids, kinds, codes, amounts and times only)."""

    facts: dict[str, Any] | None = Field(
        description="The request decide/5 read, with every grant of the person that reached "
        "the resource; dynamic values are placeholders (a string starting with a NUL "
        "character) named in fact_values. Null for a decision logged before the log kept "
        "facts."
    )
    fact_values: dict[str, Any] | None = Field(
        description="The placeholders' values: the amount, the time, today's totals"
    )


class DecisionFilter(BaseModel):
    actor_id: int | None = None
    account_id: int | None = None
    tenant_id: int | None = None
    decision: Literal["allow", "deny"] | None = None
    reason: str | None = None
    action: str | None = None
    payment_batch_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


_LISTED = [name for name in DecisionPublic.model_fields if name != "actor_username"]


def _readable(session: Session, ctx: RequestContext) -> Select[DecisionRecord, str]:
    """The decisions the caller may read (their bank's, once the policy lets them read the
    log), each with its actor's username. Usernames never change (UserUpdate has none), so
    the log names people by a join."""
    actor: Actor = ctx.require_actor()
    require_readable(
        session, ctx, "decision.read", Resource.of_bank(actor.bank_id), not_found="not found"
    )
    return (
        select(DecisionRecord, col(User.username))
        .join(User, col(User.id) == col(DecisionRecord.actor_id))
        .where(col(DecisionRecord.bank_id) == actor.bank_id)
    )


def _public(row: Row[DecisionRecord, str]) -> DecisionPublic:
    record = row.DecisionRecord
    return DecisionPublic(
        **{name: getattr(record, name) for name in _LISTED}, actor_username=row.username
    )


def decisions(
    session: Session,
    ctx: RequestContext,
    filters: DecisionFilter,
    *,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[DecisionPublic]:
    """The decision log of the caller's bank, newest first, filtered. An action filter names
    an action of the vocabulary (core.policy.matrix.actions), else 422 unknown_action: a
    misspelt one would otherwise answer an empty log, as if nothing had been decided."""
    stmt = _readable(session, ctx)
    if filters.action is not None and filters.action not in actions():
        raise InvalidRequest(
            f"{filters.action!r} is not an action of the vocabulary (see GET /v1/permissions)",
            code="unknown_action",
        )
    page = PageRequest.of(cursor, limit, max_key=MAX_BIG_KEY)
    conditions = {
        col(DecisionRecord.actor_id): filters.actor_id,
        col(DecisionRecord.account_id): filters.account_id,
        col(DecisionRecord.tenant_id): filters.tenant_id,
        col(DecisionRecord.decision): filters.decision,
        col(DecisionRecord.reason): filters.reason,
        col(DecisionRecord.action): filters.action,
        col(DecisionRecord.payment_batch_id): filters.payment_batch_id,
    }
    for column, value in conditions.items():
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.since is not None:
        stmt = stmt.where(col(DecisionRecord.at) >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(col(DecisionRecord.at) < filters.until)
    key = col(DecisionRecord.id)
    return paginate(session, stmt, key, page, shape=_public, newest_first=True)


def decision(session: Session, ctx: RequestContext, decision_id: int) -> DecisionWithFacts:
    """One decision of the log, as the log lists it, with the facts it was made on. Looked up
    within what the caller may read: another bank's decision is not found, as a missing one."""
    row = session.execute(
        _readable(session, ctx).where(col(DecisionRecord.id) == decision_id)
    ).first()
    if row is None:
        raise NotFound(f"decision {decision_id} not found")
    record = row.DecisionRecord
    facts = values = None
    if record.facts is not None and record.fact_values is not None:
        facts, values = recorded.decode(record.facts, record.fact_values)
    listed = _public(row)
    return DecisionWithFacts(**listed.model_dump(), facts=facts, fact_values=values)
