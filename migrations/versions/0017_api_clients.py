"""OAuth 2.0 for API clients.

Every principal has a kind (`users.kind`: person, the default for everyone already there, or
client). An API client's credentials (`api_clients`: its public client_id, its tenant, how it
authenticates, its public JWKS or its secret's hash, when it was disabled). The keys that sign
access tokens (`signing_keys`: the private key sealed, active | published | retired), the
client assertions already used (`used_assertions`, until they expire) and access tokens
revoked before their expiry (`revoked_tokens`).

Revision ID: 0017_api_clients
Revises: 0016_totp
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime

revision = "0017_api_clients"
down_revision = "0016_totp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("kind", sa.String(10), nullable=False, server_default="person"))
        batch.create_check_constraint("ck_users_kind", "kind IN ('person', 'client')")
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False, unique=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("jwks", sa.Text(), nullable=True),
        sa.Column("secret_hash", sa.String(255), nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "auth_method IN ('private_key_jwt', 'client_secret_basic')",
            name="ck_api_clients_auth_method",
        ),
        sa.CheckConstraint(
            "(auth_method = 'private_key_jwt') = (jwks IS NOT NULL) AND "
            "(auth_method = 'client_secret_basic') = (secret_hash IS NOT NULL)",
            name="ck_api_clients_credentials",
        ),
    )
    op.create_index("ix_api_clients_bank_id", "api_clients", ["bank_id"])
    op.create_index("ix_api_clients_tenant_id", "api_clients", ["tenant_id"])
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("private_key_sealed", sa.Text(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("retired_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('active', 'published', 'retired')", name="ck_signing_keys_state"
        ),
    )
    op.create_index("ix_signing_keys_state", "signing_keys", ["state"])
    op.create_table(
        "used_assertions",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_used_assertions_expires_at", "used_assertions", ["expires_at"])
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_revoked_tokens_expires_at", "revoked_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_revoked_tokens_expires_at", table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_index("ix_used_assertions_expires_at", table_name="used_assertions")
    op.drop_table("used_assertions")
    op.drop_index("ix_signing_keys_state", table_name="signing_keys")
    op.drop_table("signing_keys")
    op.drop_index("ix_api_clients_tenant_id", table_name="api_clients")
    op.drop_index("ix_api_clients_bank_id", table_name="api_clients")
    op.drop_table("api_clients")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("ck_users_kind", type_="check")
        batch.drop_column("kind")
