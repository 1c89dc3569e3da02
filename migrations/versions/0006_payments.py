"""Payments to third parties under dual control.

Banks get the parts of their customers' IBANs (country, bank code, BIC); every customer
account gets its IBAN and a held amount (the holds of its payments awaiting approval), and the
overdraft check counts the holds. Tenants get their dual-control settings, grants an approval
group and limit. New tables: beneficiaries, payments, payment_approvals, approval_rules.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UTCDateTime
from core.ledger.identifiers import account_iban, random_account_number

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_LIVE = sa.text("deleted_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("banks") as batch:
        batch.add_column(sa.Column("country", sa.String(2), nullable=False, server_default="DE"))
        batch.add_column(
            sa.Column("bank_code", sa.String(12), nullable=False, server_default="10020030")
        )
        batch.add_column(
            sa.Column("bic", sa.String(11), nullable=False, server_default="MANDDEB1XXX")
        )
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column(
                "beneficiary_approval_required",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch.add_column(
            sa.Column("new_beneficiary_hours", sa.Integer(), nullable=False, server_default="24")
        )
        batch.add_column(
            sa.Column("payment_expiry_days", sa.Integer(), nullable=False, server_default="7")
        )
    with op.batch_alter_table("grants") as batch:
        batch.add_column(sa.Column("approval_group", sa.String(1), nullable=True))
        batch.add_column(sa.Column("approval_limit", sa.BigInteger(), nullable=True))
        batch.create_check_constraint(
            "ck_grants_approval_group", "approval_group IS NULL OR approval_group IN ('A', 'B')"
        )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("held", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("iban", sa.String(34), nullable=True))
        batch.drop_constraint("ck_accounts_within_overdraft", type_="check")
        batch.create_check_constraint(
            "ck_accounts_within_overdraft",
            "kind = 'clearing' OR balance - held >= -overdraft_limit",
        )
        batch.create_check_constraint("ck_accounts_held_nonnegative", "held >= 0")
        batch.create_unique_constraint("uq_accounts_iban", ["iban"])
    with op.batch_alter_table("transfers") as batch:
        batch.drop_constraint("ck_transfers_kind", type_="check")
        batch.create_check_constraint(
            "ck_transfers_kind", "kind IN ('transfer', 'deposit', 'withdrawal', 'payment')"
        )
    _keep_transfers_append_only()
    _give_accounts_ibans()

    op.create_table(
        "beneficiaries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("bic", sa.String(11), nullable=True),
        sa.Column("reference_template", sa.String(140), nullable=False),
        sa.Column("internal_account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("approved_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'pending_approval')", name="ck_beneficiaries_status"
        ),
    )
    op.create_index("ix_beneficiaries_tenant_id", "beneficiaries", ["tenant_id"])
    op.create_index(
        "ix_beneficiaries_tenant_iban",
        "beneficiaries",
        ["tenant_id", "iban"],
        unique=True,
        sqlite_where=_LIVE,
        postgresql_where=_LIVE,
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column(
            "beneficiary_id", sa.Integer(), sa.ForeignKey("beneficiaries.id"), nullable=False
        ),
        sa.Column("credit_account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(140), nullable=False),
        sa.Column("execution_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("required_approvals", sa.Integer(), nullable=False),
        sa.Column("required_group_a", sa.Integer(), nullable=False),
        sa.Column("initiated_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("grants.id"), nullable=True),
        sa.Column("spend_day", sa.Date(), nullable=True),
        sa.Column(
            "transfer_id", sa.Integer(), sa.ForeignKey("transfers.id"), nullable=True, unique=True
        ),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("ended_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("end_reason", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("amount > 0", name="ck_payments_amount_positive"),
        sa.CheckConstraint(
            "status IN ('pending_approval', 'posted', 'sent', 'rejected', 'cancelled', 'expired')",
            name="ck_payments_status",
        ),
        sa.CheckConstraint("kind IN ('own', 'internal', 'external')", name="ck_payments_kind"),
        sa.CheckConstraint(
            "(status IN ('posted', 'sent')) = (transfer_id IS NOT NULL)",
            name="ck_payments_transfer_when_moved",
        ),
        sa.CheckConstraint(
            "required_group_a >= 0 AND required_group_a <= required_approvals",
            name="ck_payments_panel",
        ),
    )
    op.create_index("ix_payments_tenant_id", "payments", ["tenant_id", "id"])
    op.create_index("ix_payments_account_status", "payments", ["account_id", "status"])
    op.create_index("ix_payments_pending_expiry", "payments", ["status", "expires_at"])
    op.create_index("ix_payments_beneficiary_id", "payments", ["beneficiary_id"])
    op.create_index("ix_payments_initiated_by_id", "payments", ["initiated_by_id"])
    op.create_table(
        "payment_approvals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("payment_id", sa.Integer(), sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("approver_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("grant_id", sa.Integer(), sa.ForeignKey("grants.id"), nullable=True),
        sa.Column("approval_group", sa.String(1), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_payment_approvals_once", "payment_approvals", ["payment_id", "approver_id"], unique=True
    )
    op.create_table(
        "approval_rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("bank_id", sa.Integer(), sa.ForeignKey("banks.id"), nullable=False),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("min_amount", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("accounts.id"), nullable=True),
        sa.Column("approvals", sa.Integer(), nullable=False),
        sa.Column("group_a", sa.Integer(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("min_amount >= 0", name="ck_approval_rules_min_amount"),
        sa.CheckConstraint("approvals >= 1 AND approvals <= 5", name="ck_approval_rules_approvals"),
        sa.CheckConstraint(
            "group_a >= 0 AND group_a <= approvals", name="ck_approval_rules_group_a"
        ),
        sa.CheckConstraint(
            "kind IN ('any', 'own', 'internal', 'external')", name="ck_approval_rules_kind"
        ),
    )
    op.create_index("ix_approval_rules_owner", "approval_rules", ["bank_id", "tenant_id"])


def _keep_transfers_append_only() -> None:
    """SQLite's batch mode rebuilt the transfers table, and a rebuilt table has lost its
    triggers: refuse UPDATE and DELETE again, as 0001 set up (PostgreSQL altered the table in
    place and kept its trigger)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER IF NOT EXISTS transfers_no_{event.lower()} BEFORE {event} ON "
            "transfers BEGIN SELECT RAISE(ABORT, 'transfers is append-only'); END"
        )


def _give_accounts_ibans() -> None:
    """Every existing customer account gets an IBAN as its bank gives them now: a random
    national number, never one given twice."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT a.id, b.country, b.bank_code FROM accounts a JOIN banks b ON b.id = a.bank_id "
            "WHERE a.kind = 'customer' ORDER BY a.id"
        )
    ).all()
    given: set[str] = set()
    for account_id, country, bank_code in rows:
        iban = account_iban(country, bank_code, random_account_number(country))
        while iban in given:
            iban = account_iban(country, bank_code, random_account_number(country))
        given.add(iban)
        conn.execute(
            sa.text("UPDATE accounts SET iban = :iban WHERE id = :id"),
            {"iban": iban, "id": account_id},
        )


def downgrade() -> None:
    op.drop_table("approval_rules")
    op.drop_table("payment_approvals")
    op.drop_table("payments")
    op.drop_table("beneficiaries")
    with op.batch_alter_table("transfers") as batch:
        batch.drop_constraint("ck_transfers_kind", type_="check")
        batch.create_check_constraint(
            "ck_transfers_kind", "kind IN ('transfer', 'deposit', 'withdrawal')"
        )
    _keep_transfers_append_only()
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("uq_accounts_iban", type_="unique")
        batch.drop_constraint("ck_accounts_held_nonnegative", type_="check")
        batch.drop_constraint("ck_accounts_within_overdraft", type_="check")
        batch.create_check_constraint(
            "ck_accounts_within_overdraft", "kind = 'clearing' OR balance >= -overdraft_limit"
        )
        batch.drop_column("iban")
        batch.drop_column("held")
    with op.batch_alter_table("grants") as batch:
        batch.drop_constraint("ck_grants_approval_group", type_="check")
        batch.drop_column("approval_limit")
        batch.drop_column("approval_group")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("payment_expiry_days")
        batch.drop_column("new_beneficiary_hours")
        batch.drop_column("beneficiary_approval_required")
    with op.batch_alter_table("banks") as batch:
        batch.drop_column("bic")
        batch.drop_column("bank_code")
        batch.drop_column("country")
