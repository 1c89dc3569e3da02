"""Ties between people count password resets, and a bank sets its own trust days.

Users get who last reset their password and when (`password_reset_by_id`,
`password_reset_at`): whoever set a person's password knows it, so it ties them to that
person like creating them would (core.policy.ties). Resets before this revision are not known.
Banks get `dual_admin_trust_days` (30, as was fixed in code): for how many days what one of
their staff did to another ties them, for the bank's change requests and policy versions.

Revision ID: 0011_bank_trust_days
Revises: 0010_decision_facts
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0011_bank_trust_days"
down_revision = "0010_decision_facts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("banks") as batch:
        batch.add_column(
            sa.Column("dual_admin_trust_days", sa.Integer(), nullable=False, server_default="30")
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_reset_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("password_reset_at", UTCDateTime(), nullable=True))
        batch.create_foreign_key(
            "fk_users_password_reset_by_id", "users", ["password_reset_by_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("fk_users_password_reset_by_id", type_="foreignkey")
        batch.drop_column("password_reset_at")
        batch.drop_column("password_reset_by_id")
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("dual_admin_trust_days")
