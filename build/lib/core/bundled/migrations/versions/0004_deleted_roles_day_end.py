"""Deleted roles are kept for history only; a time window may end at 24:00.

A deleted role keeps its row (the change log, old grants and old decisions still name it)
with deleted_at set, and no longer holds its name: the unique key counts live roles only.
A window's end may be 1440 minutes, 24:00, the end of the day.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import warnings

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_LIVE = sa.text("deleted_at IS NULL")
_WINDOW_MINUTES = (
    "window_start IS NULL OR (window_start >= 0 AND window_start < 1440 AND "
    "window_end >= 0 AND window_end <= 1440 AND window_start <> window_end)"
)
_WINDOW_MINUTES_BEFORE = (
    "window_start IS NULL OR (window_start >= 0 AND window_start < 1440 AND "
    "window_end >= 0 AND window_end < 1440 AND window_start <> window_end)"
)


def upgrade() -> None:
    op.add_column("roles", sa.Column("deleted_at", UTCDateTime(), nullable=True))
    op.drop_index("ix_roles_unique_key", table_name="roles")
    op.create_index(
        "ix_roles_unique_key",
        "roles",
        ["bank_id", sa.text("coalesce(tenant_id, 0)"), "key"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    _window_check(_WINDOW_MINUTES)


def downgrade() -> None:
    _window_check(_WINDOW_MINUTES_BEFORE)
    op.drop_index("ix_roles_unique_key", table_name="roles")
    with op.batch_alter_table("roles") as batch:
        batch.drop_column("deleted_at")
    op.create_index(
        "ix_roles_unique_key",
        "roles",
        ["bank_id", sa.text("coalesce(tenant_id, 0)"), "key"],
        unique=True,
    )


def _window_check(condition: str) -> None:
    # SQLite cannot alter a constraint: batch mode rebuilds the table with the new one. Its
    # reflection reaches roles (a foreign key) and says it skips the expression index there,
    # which the rebuild of grants does not touch.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", sa.exc.SAWarning)
        with op.batch_alter_table("grants", recreate="auto") as batch:
            batch.drop_constraint("ck_grants_window_minutes", type_="check")
            batch.create_check_constraint("ck_grants_window_minutes", condition)
