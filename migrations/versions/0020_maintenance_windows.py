"""Maintenance windows: announced in advance by bank managers, or switched on by an operator
(`mandate maintenance start`), during which writes (read_only) or everything but health and
status (full) answer 503.

Revision ID: 0020_maintenance_windows
Revises: 0016_totp
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0020_maintenance_windows"
down_revision = "0019_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=True),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("message", sa.String(500), nullable=False),
        sa.Column("scheduled_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
    )
    op.create_index("ix_maintenance_windows_bank_id", "maintenance_windows", ["bank_id"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_windows_bank_id", "maintenance_windows")
    op.drop_table("maintenance_windows")
