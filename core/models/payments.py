"""Tables of payments to third parties under dual control: beneficiaries (payees), payments,
their approvals, and the approval rules (tenant rules and the bank's minimums). What the rules
mean (which tier applies, who may approve, when a panel is satisfied) is in
policies/approvals.polar; these hold the data only."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Date, Index, text
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.db import BigIntKey, UTCDateTime

PAYMENT_STATUSES = (
    "pending_approval",
    "scheduled",
    "posted",
    "sent",
    "rejected",
    "cancelled",
    "expired",
    "failed",
)
# A payment's amount is held on its account while it awaits approval, or, approved, its
# execution date; its money moved when it is posted (internal) or sent (external).
HELD_STATUSES = ("pending_approval", "scheduled")
MOVED_STATUSES = ("posted", "sent")
PAYMENT_STATUS_CHECK = "status IN ({})".format(", ".join(f"'{s}'" for s in PAYMENT_STATUSES))
PAYMENT_KINDS = ("own", "internal", "external")
RULE_KINDS = ("any", *PAYMENT_KINDS)


class Beneficiary(SQLModel, table=True):
    """A payee of one tenant. Internal when its IBAN is an account of the same bank (any
    tenant's): internal_account_id names it; external otherwise."""

    __tablename__ = "beneficiaries"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'pending_approval')", name="ck_beneficiaries_status"),
        # One live payee per IBAN and tenant; a deleted one is kept for its payments' history.
        Index(
            "ix_beneficiaries_tenant_iban",
            "tenant_id",
            "iban",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int = Field(foreign_key="tenants.id", index=True)
    name: str = Field(max_length=100)
    iban: str = Field(max_length=34)
    bic: str | None = Field(default=None, max_length=11)
    reference_template: str = Field(default="", max_length=140)
    internal_account_id: int | None = Field(default=None, foreign_key="accounts.id")
    status: str = Field(default="active", max_length=20)
    created_by_id: int = Field(foreign_key="users.id")
    approved_by_id: int | None = Field(default=None, foreign_key="users.id")
    approved_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    deleted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class Payment(SQLModel, table=True):
    """Money to a beneficiary. A payment the approval panel catches waits (pending_approval)
    with a hold on its amount (accounts.held); the last approval posts it (internal: a book
    transfer; external: to the bank's clearing account, status sent), or, dated for a later
    day, schedules it (scheduled, still held) until its execution date. Never edited: it ends
    posted, sent, rejected, cancelled, expired, or failed (its date came and the account could
    not be debited)."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_payments_amount_positive"),
        CheckConstraint(PAYMENT_STATUS_CHECK, name="ck_payments_status"),
        CheckConstraint("kind IN ('own', 'internal', 'external')", name="ck_payments_kind"),
        # A payment has a transfer exactly when its money moved.
        CheckConstraint(
            "(status IN ('posted', 'sent')) = (transfer_id IS NOT NULL)",
            name="ck_payments_transfer_when_moved",
        ),
        CheckConstraint(
            "required_group_a >= 0 AND required_group_a <= required_approvals",
            name="ck_payments_panel",
        ),
        Index("ix_payments_tenant_id", "tenant_id", "id"),
        Index("ix_payments_account_status", "account_id", "status"),
        Index("ix_payments_pending_expiry", "status", "expires_at"),
        Index("ix_payments_scheduled", "status", "execution_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int = Field(foreign_key="tenants.id")
    account_id: int = Field(foreign_key="accounts.id")
    beneficiary_id: int = Field(foreign_key="beneficiaries.id", index=True)
    # Where the money goes: the beneficiary's account inside the bank, or the clearing account.
    credit_account_id: int = Field(foreign_key="accounts.id")
    kind: str = Field(max_length=10)
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    reference: str = Field(default="", max_length=140)
    execution_date: dt.date | None = Field(default=None, sa_type=Date)
    status: str = Field(max_length=20)
    # The panel that applied when the payment was made: how many approvals, how many from
    # group A (policies/approvals.polar), and why ("rule", "new_beneficiary").
    required_approvals: int = Field(default=0)
    required_group_a: int = Field(default=0)
    initiated_by_id: int = Field(foreign_key="users.id", index=True)
    # The grant the payment went through and the tenant-local day its limits counted on:
    # given back to both if it ends without moving money.
    grant_id: int | None = Field(default=None, foreign_key="grants.id")
    spend_day: dt.date | None = Field(default=None, sa_type=Date)
    transfer_id: int | None = Field(default=None, foreign_key="transfers.id", unique=True)
    # A payment an approved batch made (core.models.batches): its approvals are the batch's.
    payment_batch_id: int | None = Field(default=None, foreign_key="payment_batches.id")
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_by_id: int | None = Field(default=None, foreign_key="users.id")
    end_reason: str = Field(default="", max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class PaymentApproval(SQLModel, table=True):
    """One approval of a payment: by whom, under which grant and group. One per person."""

    __tablename__ = "payment_approvals"
    __table_args__ = (
        Index("ix_payment_approvals_once", "payment_id", "approver_id", unique=True),
        # An approver's approvals of a day: their daily approval limit sums them.
        Index("ix_payment_approvals_approver_day", "approver_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    payment_id: int = Field(foreign_key="payments.id")
    approver_id: int = Field(foreign_key="users.id")
    grant_id: int | None = Field(default=None, foreign_key="grants.id")
    approval_group: str | None = Field(default=None, max_length=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# A payment's steps: made, approved, and each status it can move on to (every status but the
# one it is made waiting in).
PAYMENT_STEPS = ("created", "approved", *(s for s in PAYMENT_STATUSES if s != "pending_approval"))


class PaymentEvent(SQLModel, table=True):
    """One step of a payment's life, append-only and hash-chained (core.audit.chain): a
    payment row changes status, its log keeps each step, who took it (none: Mandate itself,
    executing or expiring it) and the status it left. `detail` is a person's words (a
    rejection's reason, an end reason): behind the chain's salted commitment."""

    __tablename__ = "payment_log"
    __table_args__ = (
        CheckConstraint(
            "step IN ({})".format(", ".join(f"'{s}'" for s in PAYMENT_STEPS)),
            name="ck_payment_log_step",
        ),
        Index("ix_payment_log_payment", "payment_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int = Field(foreign_key="tenants.id")
    payment_id: int = Field(foreign_key="payments.id")
    step: str = Field(max_length=10)
    status: str = Field(max_length=20)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    transfer_id: int | None = Field(default=None, foreign_key="transfers.id")
    approval_group: str | None = Field(default=None, max_length=1)
    payment_batch_id: int | None = Field(default=None, foreign_key="payment_batches.id")
    detail: str = Field(default="", max_length=500)
    at: dt.datetime = Field(sa_type=UTCDateTime)


class ApprovalRule(SQLModel, table=True):
    """A tier of an approval panel: payments in `currency` of at least `min_amount` (of
    `kind`, from `account_id` if set) need `approvals` approvals, `group_a` of them from
    group A. tenant_id null: a bank minimum every tenant of the bank inherits."""

    __tablename__ = "approval_rules"
    __table_args__ = (
        CheckConstraint("min_amount >= 0", name="ck_approval_rules_min_amount"),
        CheckConstraint("approvals >= 1 AND approvals <= 5", name="ck_approval_rules_approvals"),
        CheckConstraint("group_a >= 0 AND group_a <= approvals", name="ck_approval_rules_group_a"),
        CheckConstraint(
            "kind IN ('any', 'own', 'internal', 'external')", name="ck_approval_rules_kind"
        ),
        Index("ix_approval_rules_owner", "bank_id", "tenant_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id")
    currency: str = Field(max_length=3)
    min_amount: int = Field(sa_type=BigInteger)
    kind: str = Field(default="any", max_length=10)
    account_id: int | None = Field(default=None, foreign_key="accounts.id")
    approvals: int = Field(default=1)
    group_a: int = Field(default=0)
    updated_by_id: int | None = Field(default=None, foreign_key="users.id")
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
