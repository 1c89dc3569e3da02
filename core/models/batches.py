"""Tables of payment batches: a pain.001 file uploaded as one batch of payments, approved as
one. A batch holds its accepted items' total on its account while it waits (accounts.held),
its items counted against the uploader's limits on the day it was uploaded; its last approval
makes every accepted item a payment (core.models.payments.Payment, payment_batch_id naming the
batch) posted through the payments' own posting, in one transaction. What the approval panel
of a batch is, and who may approve it, is in policies/approvals.polar and decide.polar."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Date, Index
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.db import UTCDateTime
from core.models import payments  # noqa: F401  (the payments a batch's items become)

BATCH_STATUSES = ("pending_approval", "approved", "rejected", "cancelled", "expired")
# A batch awaiting approval holds its total; approved, its items are payments (which hold
# their own amounts while scheduled); ended otherwise, it holds nothing.
BATCH_HELD_STATUSES = ("pending_approval",)
ITEM_STATUSES = ("accepted", "refused")


class PaymentBatch(SQLModel, table=True):
    """One uploaded pain.001 file: its message id (unique per tenant, as banks keep it), the
    account it pays from, the total of its accepted items (held while it waits), the panel it
    needs, and how it ended. Never edited but to end it."""

    __tablename__ = "payment_batches"
    __table_args__ = (
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in BATCH_STATUSES)),
            name="ck_payment_batches_status",
        ),
        CheckConstraint("total > 0", name="ck_payment_batches_total_positive"),
        CheckConstraint(
            "required_group_a >= 0 AND required_group_a <= required_approvals",
            name="ck_payment_batches_panel",
        ),
        # A file's MsgId is unique per tenant: the same file sent twice is refused.
        Index("ix_payment_batches_msg_id", "tenant_id", "msg_id", unique=True),
        Index("ix_payment_batches_tenant_id", "tenant_id", "id"),
        Index("ix_payment_batches_account_status", "account_id", "status"),
        Index("ix_payment_batches_pending_expiry", "status", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int = Field(foreign_key="tenants.id")
    account_id: int = Field(foreign_key="accounts.id")
    msg_id: str = Field(max_length=35)
    # The pain.001 version the file was (e.g. pain.001.001.09), and its SHA-256.
    schema_version: str = Field(max_length=20)
    file_sha256: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    execution_date: dt.date | None = Field(default=None, sa_type=Date)
    status: str = Field(max_length=20)
    item_count: int
    accepted_count: int
    total: int = Field(sa_type=BigInteger)
    required_approvals: int = Field(default=0)
    required_group_a: int = Field(default=0)
    initiated_by_id: int = Field(foreign_key="users.id", index=True)
    # The tenant-local day its items counted against the uploader's limits (given back if it
    # ends without moving money).
    spend_day: dt.date = Field(sa_type=Date)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_by_id: int | None = Field(default=None, foreign_key="users.id")
    end_reason: str = Field(default="", max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class PaymentBatchItem(SQLModel, table=True):
    """One credit transfer of a batch, as the file gave it, and its own decision: accepted
    (it waits with its batch, then becomes `payment_id`) or refused, with the refusal's code
    and sentence. A refused item never moves money and counts against no limit."""

    __tablename__ = "payment_batch_items"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="ck_payment_batch_items_amount"),
        CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in ITEM_STATUSES)),
            name="ck_payment_batch_items_status",
        ),
        Index("ix_payment_batch_items_batch", "batch_id", "position", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="payment_batches.id")
    position: int
    end_to_end_id: str = Field(max_length=35)
    creditor_name: str = Field(max_length=140)
    creditor_iban: str = Field(max_length=34)
    # Minor units; 0 for a refused item whose amount could not be read.
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    reference: str = Field(default="", max_length=140)
    status: str = Field(max_length=10)
    reason: str = Field(default="", max_length=64)
    detail: str = Field(default="", max_length=500)
    beneficiary_id: int | None = Field(default=None, foreign_key="beneficiaries.id")
    credit_account_id: int | None = Field(default=None, foreign_key="accounts.id")
    kind: str | None = Field(default=None, max_length=10)
    new_beneficiary: bool = Field(default=False)
    # The grant the item's decision went through: its limits counted the item.
    grant_id: int | None = Field(default=None, foreign_key="grants.id")
    payment_id: int | None = Field(default=None, foreign_key="payments.id", unique=True)


class PaymentBatchApproval(SQLModel, table=True):
    """One approval of a batch: by whom, under which grant and group. One per person."""

    __tablename__ = "payment_batch_approvals"
    __table_args__ = (
        Index("ix_payment_batch_approvals_once", "batch_id", "approver_id", unique=True),
        Index("ix_payment_batch_approvals_approver_day", "approver_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="payment_batches.id")
    approver_id: int = Field(foreign_key="users.id")
    grant_id: int | None = Field(default=None, foreign_key="grants.id")
    approval_group: str | None = Field(default=None, max_length=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
