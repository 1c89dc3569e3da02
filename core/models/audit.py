"""Audit tables. Rows are written in the request's transaction when it commits, and in a
transaction of their own when it rolls back, so refused attempts are never lost."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.db import BigIntKey, UTCDateTime
from core.models import governance  # noqa: F401  (the change requests a change record names)


class ActivityRecord(SQLModel, table=True):
    """One action a user attempted, with its outcome, as that user sees it in their activity;
    or (`step`) a step of a payment the user prepared, taken by someone else (`acted_by_id`)
    or by Mandate itself (acted_by_id null): an approval, its posting, its expiry."""

    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_user_id", "user_id", "id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    user_id: int = Field(foreign_key="users.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id")
    action: str = Field(max_length=64)
    outcome: str = Field(max_length=12)
    status_code: int
    error_code: str | None = Field(default=None, max_length=64)
    detail: str = Field(default="", max_length=500)
    account_id: int | None = Field(default=None)
    counterparty_account_id: int | None = Field(default=None)
    amount: int | None = Field(default=None, sa_type=BigInteger)
    currency: str | None = Field(default=None, max_length=3)
    transfer_id: int | None = Field(default=None)
    idempotency_key: str | None = Field(default=None, max_length=255)
    target: str | None = Field(default=None, max_length=100)
    step: bool = Field(default=False)
    acted_by_id: int | None = Field(default=None)
    payment_id: int | None = Field(default=None)
    # The payment batch the action or step was about (core.models.batches).
    payment_batch_id: int | None = Field(default=None)


class DecisionRecord(SQLModel, table=True):
    """A decision of the policy: on a money-moving or admin action, a person's read of one
    account or its statement, or any refusal. `facts` and `fact_values` keep what it was
    decided on (core.policy.recorded), so that a proposed policy can replay it."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_actor", "actor_id", "id"),
        Index("ix_decisions_account", "account_id", "id"),
        Index("ix_decisions_bank", "bank_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_id: int = Field(foreign_key="users.id")
    # Who asked about the actor, when another did (a decision service, core.authzen); None
    # when the actor's own request made the decision.
    asked_by_id: int | None = Field(default=None, foreign_key="users.id")
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    action: str = Field(max_length=64)
    resource_type: str = Field(max_length=20)
    resource_id: int | None = Field(default=None)
    account_id: int | None = Field(default=None)
    amount: int | None = Field(default=None, sa_type=BigInteger)
    currency: str | None = Field(default=None, max_length=3)
    decision: str = Field(max_length=5)
    reason: str = Field(max_length=64, index=True)
    grant_id: int | None = Field(default=None)
    detail: str = Field(default="", max_length=500)
    policy_version: str = Field(max_length=16)
    # The company's extension the decision was made with (its version's hash), if any.
    extension_version: str | None = Field(default=None, max_length=16)
    eval_us: int
    # The request decide/5 read, with its Dynamic placeholders, and the placeholders' values:
    # compact JSON. NULL for decisions logged before they were kept (not replayable).
    facts: str | None = Field(default=None, sa_type=Text)
    fact_values: str | None = Field(default=None, sa_type=Text)
    # The payment batch the decision was about: one per item of an upload, and its approvals.
    payment_batch_id: int | None = Field(default=None)


class ChangeRecord(SQLModel, table=True):
    """A change to who may do what: users, roles, grants, caps. Before and after, as JSON."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_bank", "bank_id", "id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor_id: int = Field(foreign_key="users.id")
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    entity: str = Field(max_length=20)
    entity_id: int
    change: str = Field(max_length=20)
    before: str | None = Field(default=None, sa_type=Text)
    after: str | None = Field(default=None, sa_type=Text)
    # A change applied by a change request (dual administration): the request, when it was
    # made (actor_id made it), and who approved it (at: when it was applied).
    change_request_id: int | None = Field(
        default=None, foreign_key="change_requests.id", sa_type=BigIntKey
    )
    requested_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    approved_by_id: int | None = Field(default=None, foreign_key="users.id")
