"""Future-dated payments and approvers' daily approval limits.

A payment approved for a later execution date waits as `scheduled` (its amount still held)
and executes on its day, or ends `failed` when its account can no longer be debited then:
payments' status constraint admits both, and an index finds the scheduled payments that are
due. Grants get an optional daily approval limit (in their limit currency): the most the
payments one approver's approvals count toward may sum to in a day; an index on approvals by
approver and time answers that sum. The activity gets the steps of a payment taken by others
(an approval, its posting, its expiry) for who prepared it: `step`, `acted_by_id` and
`payment_id`.

Revision ID: 0007_payment_schedule
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_payment_schedule"
down_revision = "0006"
branch_labels = None
depends_on = None

_BEFORE = "('pending_approval', 'posted', 'sent', 'rejected', 'cancelled', 'expired')"
_AFTER = (
    "('pending_approval', 'scheduled', 'posted', 'sent', 'rejected', 'cancelled', 'expired', "
    "'failed')"
)


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint("ck_payments_status", type_="check")
        batch.create_check_constraint("ck_payments_status", f"status IN {_AFTER}")
    op.create_index("ix_payments_scheduled", "payments", ["status", "execution_date"])
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("approval_daily_limit", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_payment_approvals_approver_day", "payment_approvals", ["approver_id", "created_at"]
    )
    with op.batch_alter_table("activity") as batch:
        batch.add_column(sa.Column("step", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("acted_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("payment_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("activity") as batch:
        batch.drop_column("payment_id")
        batch.drop_column("acted_by_id")
        batch.drop_column("step")
    op.drop_index("ix_payment_approvals_approver_day", table_name="payment_approvals")
    with op.batch_alter_table("grants") as batch:
        batch.drop_column("approval_daily_limit")
    op.drop_index("ix_payments_scheduled", table_name="payments")
    # Scheduled and failed payments have no place in the older schema: a scheduled payment is
    # given the status it would have had waiting, a failed one the end of an expired one.
    op.execute("UPDATE payments SET status = 'expired' WHERE status = 'failed'")
    op.execute(
        "UPDATE payments SET status = 'pending_approval', "
        "expires_at = COALESCE(expires_at, created_at) WHERE status = 'scheduled'"
    )
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint("ck_payments_status", type_="check")
        batch.create_check_constraint("ck_payments_status", f"status IN {_BEFORE}")
