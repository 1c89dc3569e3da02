"""Initial schema: banks, tenants, users, roles, grants, caps; the ledger; the audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import BigIntKey, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def _limits() -> list[sa.Column]:
    return [
        sa.Column("per_transfer_limit", sa.BigInteger(), nullable=True),
        sa.Column("daily_limit", sa.BigInteger(), nullable=True),
        sa.Column("monthly_limit", sa.BigInteger(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        _ts("created_at"),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        _ts("created_at"),
    )
    op.create_index("ix_tenants_bank_id", "tenants", ["bank_id"])
    op.create_index("ix_tenants_bank_name", "tenants", ["bank_id", "name"], unique=True)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("credentials_changed_at"),
    )
    op.create_index("ix_users_bank_id", "users", ["bank_id"])
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])

    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("limit_currency", sa.String(3), nullable=True),
        *_limits(),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("level IN ('tenant', 'bank')", name="ck_roles_level"),
        sa.CheckConstraint(
            "(level = 'bank') = (tenant_id IS NULL)", name="ck_roles_bank_roles_have_no_tenant"
        ),
    )
    op.create_index("ix_roles_tenant_id", "roles", ["tenant_id"])
    op.create_index(
        "ix_roles_unique_key",
        "roles",
        ["bank_id", sa.text("coalesce(tenant_id, 0)"), "key"],
        unique=True,
    )
    op.create_table(
        "role_permissions",
        sa.Column(
            "role_id", sa.Integer(), sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("permission", sa.String(64), primary_key=True),
    )

    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("overdraft_limit", sa.BigInteger(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("kind IN ('customer', 'clearing')", name="ck_accounts_kind"),
        sa.CheckConstraint("status IN ('open', 'frozen', 'closed')", name="ck_accounts_status"),
        sa.CheckConstraint("overdraft_limit >= 0", name="ck_accounts_overdraft_nonnegative"),
        sa.CheckConstraint(
            "(kind = 'customer') = (tenant_id IS NOT NULL)", name="ck_accounts_owner"
        ),
        sa.CheckConstraint(
            "kind = 'clearing' OR balance >= -overdraft_limit", name="ck_accounts_within_overdraft"
        ),
    )
    op.create_index("ix_accounts_bank_id", "accounts", ["bank_id"])
    op.create_index("ix_accounts_tenant_id", "accounts", ["tenant_id"])
    op.create_index(
        "ix_accounts_one_clearing_per_currency",
        "accounts",
        ["bank_id", "currency"],
        unique=True,
        sqlite_where=sa.text("kind = 'clearing'"),
        postgresql_where=sa.text("kind = 'clearing'"),
    )

    op.create_table(
        "grants",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("role_id", sa.Integer(), sa.ForeignKey("roles.id"), nullable=False),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("all_accounts", sa.Boolean(), nullable=False),
        sa.Column("limit_currency", sa.String(3), nullable=True),
        *_limits(),
        sa.Column("window_days", sa.String(7), nullable=True),
        sa.Column("window_start", sa.Integer(), nullable=True),
        sa.Column("window_end", sa.Integer(), nullable=True),
        sa.Column("window_zone", sa.String(64), nullable=True),
        _ts("valid_from", nullable=True),
        _ts("valid_until", nullable=True),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("revoked_at", nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.CheckConstraint(
            "(window_days IS NULL) = (window_start IS NULL) AND "
            "(window_days IS NULL) = (window_end IS NULL) AND "
            "(window_days IS NULL) = (window_zone IS NULL)",
            name="ck_grants_window_complete",
        ),
        sa.CheckConstraint(
            "window_start IS NULL OR (window_start >= 0 AND window_start < 1440 AND "
            "window_end >= 0 AND window_end < 1440 AND window_start <> window_end)",
            name="ck_grants_window_minutes",
        ),
        sa.CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until",
            name="ck_grants_validity_order",
        ),
    )
    op.create_index("ix_grants_user_id", "grants", ["user_id"])
    op.create_index("ix_grants_role_id", "grants", ["role_id"])
    op.create_index("ix_grants_tenant_id", "grants", ["tenant_id"])
    op.create_index("ix_grants_user_all_accounts", "grants", ["user_id", "all_accounts"])

    op.create_table(
        "grant_accounts",
        sa.Column(
            "grant_id",
            sa.Integer(),
            sa.ForeignKey("grants.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
    )
    op.create_index("ix_grant_accounts_account_user", "grant_accounts", ["account_id", "user_id"])

    op.create_table(
        "limit_caps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        *_limits(),
        sa.Column("updated_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        _ts("updated_at"),
    )
    op.create_index("ix_limit_caps_tenant_id", "limit_caps", ["tenant_id"])
    op.create_index(
        "ix_limit_caps_unique",
        "limit_caps",
        ["bank_id", sa.text("coalesce(tenant_id, 0)"), "currency"],
        unique=True,
    )
    op.create_table(
        "grant_spend",
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("grants.id"), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
    )

    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("debit_account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("credit_account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.String(140), nullable=False),
        sa.Column("initiated_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("grants.id"), nullable=True),
        _ts("created_at"),
        sa.CheckConstraint("amount > 0", name="ck_transfers_amount_positive"),
        sa.CheckConstraint(
            "debit_account_id <> credit_account_id", name="ck_transfers_two_accounts"
        ),
        sa.CheckConstraint(
            "kind IN ('transfer', 'deposit', 'withdrawal')", name="ck_transfers_kind"
        ),
    )
    op.create_index("ix_transfers_tenant_id", "transfers", ["tenant_id"])
    op.create_index("ix_transfers_debit", "transfers", ["debit_account_id", "id"])
    op.create_index("ix_transfers_credit", "transfers", ["credit_account_id", "id"])

    op.create_table(
        "entries",
        sa.Column("id", BigIntKey, primary_key=True),
        sa.Column("transfer_id", sa.Integer(), sa.ForeignKey("transfers.id"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        sa.CheckConstraint("amount <> 0", name="ck_entries_amount_nonzero"),
    )
    op.create_index("ix_entries_transfer_id", "entries", ["transfer_id"])
    op.create_index("ix_entries_account_id", "entries", ["account_id", "id"])

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(40), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.Text(), nullable=False),
        sa.Column("transfer_id", sa.Integer(), sa.ForeignKey("transfers.id"), nullable=True),
        _ts("created_at"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])

    op.create_table(
        "activity",
        sa.Column("id", BigIntKey, primary_key=True),
        _ts("at"),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("counterparty_account_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("transfer_id", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("target", sa.String(100), nullable=True),
    )
    op.create_index("ix_activity_user_id", "activity", ["user_id", "id"])

    op.create_table(
        "decisions",
        sa.Column("id", BigIntKey, primary_key=True),
        _ts("at"),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource_type", sa.String(20), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("decision", sa.String(5), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("policy_version", sa.String(16), nullable=False),
        sa.Column("eval_us", sa.Integer(), nullable=False),
    )
    op.create_index("ix_decisions_at", "decisions", ["at"])
    op.create_index("ix_decisions_tenant_id", "decisions", ["tenant_id"])
    op.create_index("ix_decisions_reason", "decisions", ["reason"])
    op.create_index("ix_decisions_actor", "decisions", ["actor_id", "id"])
    op.create_index("ix_decisions_account", "decisions", ["account_id", "id"])
    op.create_index("ix_decisions_bank", "decisions", ["bank_id", "id"])

    op.create_table(
        "changes",
        sa.Column("id", BigIntKey, primary_key=True),
        _ts("at"),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("entity", sa.String(20), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(20), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
    )
    op.create_index("ix_changes_tenant_id", "changes", ["tenant_id"])
    op.create_index("ix_changes_bank", "changes", ["bank_id", "id"])

    _append_only("entries")
    _append_only("transfers")


def _append_only(table: str) -> None:
    """Entries and transfers are never changed or removed: a mistake is corrected by a
    reversing transfer. The database itself refuses UPDATE and DELETE."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION mandate_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
                    USING ERRCODE = 'restrict_violation';
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION mandate_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    for table in (
        "changes",
        "decisions",
        "activity",
        "idempotency_keys",
        "entries",
        "transfers",
        "grant_spend",
        "limit_caps",
        "grant_accounts",
        "grants",
        "accounts",
        "role_permissions",
        "roles",
        "users",
        "tenants",
        "banks",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS mandate_append_only()")
