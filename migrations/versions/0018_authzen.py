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
down_revision = "0017_api_clients"
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
    # Each bank and each tenant without one (a downgrade keeps the ones someone holds).
    for level, source, tenant in (("bank", "banks", "NULL"), ("tenant", "tenants", "o.id")):
        bank = "o.id" if level == "bank" else "o.bank_id"
        same_tenant = "r.tenant_id IS NULL" if level == "bank" else "r.tenant_id = o.id"
        statement = sa.text(
            f"INSERT INTO roles (bank_id, tenant_id, key, name, description, builtin, level, "
            f"created_at, updated_at) "
            f"SELECT {bank}, {tenant}, 'decision_service', :name, :description, :builtin, "
            f":level, :now, :now FROM {source} o WHERE NOT EXISTS (SELECT 1 FROM roles r "
            f"WHERE r.bank_id = {bank} AND {same_tenant} AND r.key = 'decision_service' "
            f"AND r.deleted_at IS NULL)"
        ).bindparams(sa.bindparam("now", type_=UTCDateTime()))
        op.get_bind().execute(
            statement,
            {
                "name": NAME,
                "description": DESCRIPTIONS[level],
                "builtin": True,
                "level": level,
                "now": dt.datetime.now(dt.UTC),
            },
        )


def downgrade() -> None:
    op.execute(
        "DELETE FROM roles WHERE key = 'decision_service' AND builtin = true "
        "AND id NOT IN (SELECT role_id FROM grants)"
    )
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("asked_by_id")
