"""Payment batches: a pain.001 file uploaded as one batch, approved as one.

`payment_batches` (one per file; its MsgId unique per tenant), `payment_batch_items` (each
credit transfer with its own decision: accepted, or refused with its reason) and
`payment_batch_approvals`. A payment an approved batch made names it (payments.
payment_batch_id), and so do the decisions and the activity about a batch.

Revision ID: 0012_payment_batches
Revises: 0010_decision_facts
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0012_payment_batches"
down_revision = "0011_bank_trust_days"
branch_labels = None
depends_on = None


def _batches() -> None:
    op.create_table(
        "payment_batches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("msg_id", sa.String(35), nullable=False),
        sa.Column("schema_version", sa.String(20), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("execution_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("accepted_count", sa.Integer(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("required_group_a", sa.Integer(), nullable=False),
        sa.Column("initiated_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("spend_day", sa.Date(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("end_reason", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending_approval', 'approved', 'rejected', 'cancelled', 'expired')",
            name="ck_payment_batches_status",
        ),
        sa.CheckConstraint("total > 0", name="ck_payment_batches_total_positive"),
        sa.CheckConstraint(
            "required_group_a >= 0 AND required_group_a <= required_approvals",
            name="ck_payment_batches_panel",
        ),
    )
    op.create_index(
        "ix_payment_batches_msg_id", "payment_batches", ["tenant_id", "msg_id"], unique=True
    )
    op.create_index("ix_payment_batches_tenant_id", "payment_batches", ["tenant_id", "id"])
    op.create_index(
        "ix_payment_batches_account_status", "payment_batches", ["account_id", "status"]
    )
    op.create_index(
        "ix_payment_batches_pending_expiry", "payment_batches", ["status", "expires_at"]
    )
    op.create_index("ix_payment_batches_initiated_by_id", "payment_batches", ["initiated_by_id"])


def _items_and_approvals() -> None:
    op.create_table(
        "payment_batch_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("payment_batches.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("end_to_end_id", sa.String(35), nullable=False),
        sa.Column("creditor_name", sa.String(140), nullable=False),
        sa.Column("creditor_iban", sa.String(34), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(140), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), sa.ForeignKey("beneficiaries.id"), nullable=True),
        sa.Column("credit_account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=True),
        sa.Column("kind", sa.String(10), nullable=True),
        sa.Column("new_beneficiary", sa.Boolean(), nullable=False),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("grants.id"), nullable=True),
        sa.Column(
            "payment_id", sa.Integer(), sa.ForeignKey("payments.id"), nullable=True, unique=True
        ),
        sa.CheckConstraint("amount >= 0", name="ck_payment_batch_items_amount"),
        sa.CheckConstraint(
            "status IN ('accepted', 'refused')", name="ck_payment_batch_items_status"
        ),
    )
    op.create_index(
        "ix_payment_batch_items_batch",
        "payment_batch_items",
        ["batch_id", "position"],
        unique=True,
    )
    op.create_table(
        "payment_batch_approvals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("batch_id", sa.Integer(), sa.ForeignKey("payment_batches.id"), nullable=False),
        sa.Column("approver_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("grants.id"), nullable=True),
        sa.Column("approval_group", sa.String(1), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_payment_batch_approvals_once",
        "payment_batch_approvals",
        ["batch_id", "approver_id"],
        unique=True,
    )
    op.create_index(
        "ix_payment_batch_approvals_approver_day",
        "payment_batch_approvals",
        ["approver_id", "created_at"],
    )


def upgrade() -> None:
    _batches()
    _items_and_approvals()
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("payment_batch_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_payments_payment_batch_id", "payment_batches", ["payment_batch_id"], ["id"]
        )
    for table in ("decisions", "activity"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("payment_batch_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in ("activity", "decisions"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("payment_batch_id")
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint("fk_payments_payment_batch_id", type_="foreignkey")
        batch.drop_column("payment_batch_id")
    op.drop_table("payment_batch_approvals")
    op.drop_table("payment_batch_items")
    op.drop_table("payment_batches")
