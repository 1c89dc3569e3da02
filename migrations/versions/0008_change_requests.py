"""Dual administration: change requests.

Banks get their dual-administration settings (the default for new customers, whether it is
mandatory, dual control over their own managers, how long a request waits); tenants whether
their corporate admins' changes wait for a second admin, and for how many days a user the
requester created or empowered is no second person for them; users who created them. The
change log names the change request a change came from and who approved it. New table:
change_requests.

Revision ID: 0008_change_requests
Revises: 0007_payment_schedule
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import BigIntKey, UTCDateTime

revision = "0008_change_requests"
down_revision = "0007_payment_schedule"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("banks") as batch:
        batch.add_column(
            sa.Column("dual_admin_default", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column(
                "dual_admin_mandatory", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(
            sa.Column("dual_control", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("change_request_hours", sa.Integer(), nullable=False, server_default="72")
        )
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("dual_admin", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("dual_admin_trust_days", sa.Integer(), nullable=False, server_default="30")
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_users_created_by_id", "users", ["created_by_id"], ["id"])

    op.create_table(
        "change_requests",
        sa.Column("id", BigIntKey, primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("summary", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("reason_detail", sa.Text(), nullable=True),
        sa.Column("result_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'applied', 'rejected', 'refused')",
            name="ck_change_requests_status",
        ),
    )
    op.create_index(
        "ix_change_requests_bank_status", "change_requests", ["bank_id", "status", "id"]
    )
    op.create_index(
        "ix_change_requests_tenant_status", "change_requests", ["tenant_id", "status", "id"]
    )
    with op.batch_alter_table("changes") as batch:
        batch.add_column(sa.Column("change_request_id", BigIntKey, nullable=True))
        batch.add_column(sa.Column("requested_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("approved_by_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_changes_change_request_id", "change_requests", ["change_request_id"], ["id"]
        )
        batch.create_foreign_key("fk_changes_approved_by_id", "users", ["approved_by_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.drop_constraint("fk_changes_approved_by_id", type_="foreignkey")
        batch.drop_constraint("fk_changes_change_request_id", type_="foreignkey")
        batch.drop_column("approved_by_id")
        batch.drop_column("requested_at")
        batch.drop_column("change_request_id")
    op.drop_index("ix_change_requests_tenant_status", table_name="change_requests")
    op.drop_index("ix_change_requests_bank_status", table_name="change_requests")
    op.drop_table("change_requests")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("fk_users_created_by_id", type_="foreignkey")
        batch.drop_column("created_by_id")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("dual_admin_trust_days")
        batch.drop_column("dual_admin")
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("change_request_hours")
        batch.drop_column("dual_control")
        batch.drop_column("dual_admin_mandatory")
        batch.drop_column("dual_admin_default")
