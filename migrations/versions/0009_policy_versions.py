"""Policy versions: the Polar policy set kept in the database, and the pointer to the one in
force.

New tables: policy_versions (every file's text, hash, author, status, who approved, rejected,
activated it and when, the validation report) and active_policy (one row per scope, today
only "deployment": the active version and a serial every process polls). No version is
written here: `mandate db upgrade` (and `mandate serve`, `mandate seed-demo`) records the
bundled files as a version when none has their hash (core.policy_versions.bootstrap).

Revision ID: 0009_policy_versions
Revises: 0008_change_requests
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0009_policy_versions"
down_revision = "0008_change_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("hash", sa.String(16), nullable=False, unique=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("rejected_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("rejected_at", UTCDateTime(), nullable=True),
        sa.Column("rejection_reason", sa.String(500), nullable=False),
        sa.Column("activated_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("activated_at", UTCDateTime(), nullable=True),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.Column("validation", sa.JSON(), nullable=False),
        sa.Column("cases", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('proposed', 'approved', 'active', 'retired', 'rejected')",
            name="ck_policy_versions_status",
        ),
        sa.CheckConstraint("origin IN ('proposal', 'deploy')", name="ck_policy_versions_origin"),
    )
    op.create_table(
        "active_policy",
        sa.Column("scope", sa.String(20), primary_key=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("policy_versions.id"), nullable=False),
        sa.Column("serial", sa.Integer(), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("active_policy")
    op.drop_table("policy_versions")
