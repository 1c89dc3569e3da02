"""Per-tenant policy: a tenant pinned to a platform version, a company's extension.

New table tenant_policies (tenant -> pinned platform version, extension version in force; no
row: the bank's default alone). policy_versions.tenant_id: the company an extension version
is for (NULL: a platform version). decisions.extension_version: the extension a decision was
made with (NULL: none).

Revision ID: 0013_tenant_policy
Revises: 0010_decision_facts
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0013_tenant_policy"
down_revision = "0012_payment_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch:
        batch.add_column(sa.Column("tenant_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_policy_versions_tenant", "tenants", ["tenant_id"], ["id"])
        batch.create_index("ix_policy_versions_tenant_id", ["tenant_id"])
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("extension_version", sa.String(16), nullable=True))
    op.create_table(
        "tenant_policies",
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("policy_versions.id"), nullable=True),
        sa.Column("extension_id", sa.Integer(), sa.ForeignKey("policy_versions.id"), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("tenant_policies")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("extension_version")
    with op.batch_alter_table("policy_versions") as batch:
        batch.drop_index("ix_policy_versions_tenant_id")
        batch.drop_constraint("fk_policy_versions_tenant", type_="foreignkey")
        batch.drop_column("tenant_id")
