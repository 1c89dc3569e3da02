"""Two-factor sign-in (TOTP) and step-up.

Each person's authenticator (`totp_credentials`: the secret encrypted, the last time step
used) and single-use recovery codes (`recovery_codes`: keyed digests only). The bank's
`mfa_required_for_staff_and_admins` and its staff's `step_up_minutes`; each tenant's
`step_up_minutes` and the transfer amount (with its currency) above which money moves need a
step-up. A console session keeps its latest authentication (methods and time; existing
sessions: a password, when they were opened) and whether it is for enrolment only.

Revision ID: 0016_totp
Revises: 0010_decision_facts
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import BigIntKey, UTCDateTime

revision = "0016_totp"
down_revision = "0013_tenant_policy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "totp_credentials",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("secret_encrypted", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", BigIntKey, primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    with op.batch_alter_table("banks") as batch:
        batch.add_column(
            sa.Column(
                "mfa_required_for_staff_and_admins",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch.add_column(
            sa.Column("step_up_minutes", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("step_up_minutes", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("step_up_transfer_currency", sa.String(3), nullable=True))
        batch.add_column(sa.Column("step_up_transfer_amount", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("console_sessions") as batch:
        batch.add_column(
            sa.Column("auth_methods", sa.String(32), nullable=False, server_default="pwd")
        )
        batch.add_column(sa.Column("authenticated_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("enrolment_only", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE console_sessions SET authenticated_at = created_at")
    with op.batch_alter_table("console_sessions") as batch:
        batch.alter_column("authenticated_at", existing_type=UTCDateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("console_sessions") as batch:
        batch.drop_column("enrolment_only")
        batch.drop_column("authenticated_at")
        batch.drop_column("auth_methods")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("step_up_transfer_amount")
        batch.drop_column("step_up_transfer_currency")
        batch.drop_column("step_up_minutes")
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("step_up_minutes")
        batch.drop_column("mfa_required_for_staff_and_admins")
    op.drop_index("ix_recovery_codes_user_id", table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_table("totp_credentials")
