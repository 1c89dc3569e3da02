"""The decision log keeps the facts each decision was made on.

Two nullable text columns on decisions: `facts`, the request decide/5 read (with its Dynamic
placeholders), and `fact_values`, the placeholders' values, both compact JSON. A proposed
policy is replayed against them (core.policy.replay); decisions logged before this revision
have none and count as not replayable.

Revision ID: 0010_decision_facts
Revises: 0009_policy_versions
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_decision_facts"
down_revision = "0009_policy_versions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("facts", sa.Text(), nullable=True))
        batch.add_column(sa.Column("fact_values", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("fact_values")
        batch.drop_column("facts")
