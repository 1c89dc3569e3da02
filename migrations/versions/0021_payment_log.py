"""Payments' logs: one append-only row per step of a payment (made, approved, scheduled,
posted or sent, rejected, cancelled, expired, failed), hash-chained in its tenant's chain as
transfers, decisions and changes are (core.audit.chain). Payments made before have no log
(their postings are chained as transfers): the log starts with this revision.

Like the audit tables (0019), the log refuses UPDATE and DELETE unless the transaction holds
a row of audit_maintenance (core.audit.guard: an erasure rewrites a step's detail).
Downgrading drops the logs but not their links: `mandate audit verify` then names the steps
missing, as it would any record removed behind the chain's back.

Revision ID: 0021_payment_log
Revises: 0020_maintenance_windows
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import BigIntKey, UTCDateTime

revision = "0021_payment_log"
down_revision = "0020_maintenance_windows"
branch_labels = None
depends_on = None

_TABLE = "payment_log"
_STEPS = (
    "created",
    "approved",
    "scheduled",
    "posted",
    "sent",
    "rejected",
    "cancelled",
    "expired",
    "failed",
)


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("id", BigIntKey, primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("payment_id", sa.Integer(), sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("step", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("transfer_id", sa.Integer(), sa.ForeignKey("transfers.id"), nullable=True),
        sa.Column("approval_group", sa.String(1), nullable=True),
        sa.Column(
            "payment_batch_id", sa.Integer(), sa.ForeignKey("payment_batches.id"), nullable=True
        ),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "step IN ({})".format(", ".join(f"'{s}'" for s in _STEPS)),
            name="ck_payment_log_step",
        ),
    )
    op.create_index("ix_payment_log_payment", _TABLE, ["payment_id", "id"])
    if op.get_bind().dialect.name == "postgresql":
        # mandate_audit_guard() is 0019's: it lets an erasure's transaction through.
        op.execute(
            f"CREATE TRIGGER {_TABLE}_audit_guard BEFORE UPDATE OR DELETE ON {_TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION mandate_audit_guard()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {_TABLE}_audit_guard_{event.lower()} BEFORE {event} ON {_TABLE} "
            "WHEN NOT EXISTS (SELECT 1 FROM audit_maintenance) "
            f"BEGIN SELECT RAISE(ABORT, '{_TABLE} is append-only: the audit trail'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_audit_guard ON {_TABLE}")
    else:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {_TABLE}_audit_guard_{event}")
    op.drop_index("ix_payment_log_payment", table_name=_TABLE)
    op.drop_table(_TABLE)
