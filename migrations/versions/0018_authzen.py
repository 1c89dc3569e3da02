"""Decisions asked for by other services (AuthZEN).

`decisions.asked_by_id`: who asked for a decision about someone else, when that is not the
person decided about (a decision service through /access/v1, core.authzen); NULL for the
decisions a person's own request made. The decision's actor stays the person decided about,
so that their decision history holds every answer given about them.

The built-in role `decision_service` (policies/vocabulary.polar) for every bank and every
tenant that exists already: new ones get it when they are created
(core.iam.service.seed_builtin_roles).

Revision ID: 0018_authzen
Revises: 0016_totp
Create Date: 2026-12-03
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0018_authzen"
down_revision = "0016_totp"
branch_labels = None
depends_on = None

NAME = "Decision service"
# As policies/vocabulary.polar words them today (builtin_role/4): a snapshot, as migrations are.
DESCRIPTIONS = {
    "tenant": "Another service of the company: asks whether the company's people may do "
    "something; does nothing itself.",
    "bank": "Another service of the bank: asks whether people of the bank and its customers "
    "may do something; does nothing itself.",
}


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(
            sa.Column(
                "asked_by_id",
                sa.Integer(),
                sa.ForeignKey("users.id", name="fk_decisions_asked_by_id_users"),
                nullable=True,
            )
        )
    connection = op.get_bind()
    roles = sa.table(
        "roles",
        sa.column("bank_id", sa.Integer),
        sa.column("tenant_id", sa.Integer),
        sa.column("key", sa.String),
        sa.column("name", sa.String),
        sa.column("description", sa.String),
        sa.column("builtin", sa.Boolean),
        sa.column("level", sa.String),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    now = dt.datetime.now(dt.UTC)
    rows = [
        {"bank_id": bank_id, "tenant_id": None, "level": "bank"}
        for (bank_id,) in connection.execute(sa.text("SELECT id FROM banks"))
    ] + [
        {"bank_id": bank_id, "tenant_id": tenant_id, "level": "tenant"}
        for tenant_id, bank_id in connection.execute(sa.text("SELECT id, bank_id FROM tenants"))
    ]
    if rows:
        op.bulk_insert(
            roles,
            [
                {
                    **row,
                    "key": "decision_service",
                    "name": NAME,
                    "description": DESCRIPTIONS[row["level"]],
                    "builtin": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for row in rows
            ],
        )


def downgrade() -> None:
    op.execute(
        "DELETE FROM roles WHERE key = 'decision_service' AND builtin = true "
        "AND id NOT IN (SELECT role_id FROM grants)"
    )
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("asked_by_id")
