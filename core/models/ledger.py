"""Ledger tables. Entries and transfers are append-only (database triggers refuse UPDATE and
DELETE); the balance on an account row always equals the sum of its entries."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, Index, Text, text
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.db import BigIntKey, UTCDateTime


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('customer', 'clearing')", name="ck_accounts_kind"),
        CheckConstraint("status IN ('open', 'frozen', 'closed')", name="ck_accounts_status"),
        CheckConstraint("overdraft_limit >= 0", name="ck_accounts_overdraft_nonnegative"),
        # Customer accounts belong to a tenant; clearing accounts to the bank alone.
        CheckConstraint("(kind = 'customer') = (tenant_id IS NOT NULL)", name="ck_accounts_owner"),
        # The last line of defence: no customer balance below its overdraft limit, holds
        # counted (what payments awaiting approval reserve).
        CheckConstraint(
            "kind = 'clearing' OR balance - held >= -overdraft_limit",
            name="ck_accounts_within_overdraft",
        ),
        CheckConstraint("held >= 0", name="ck_accounts_held_nonnegative"),
        Index(
            "ix_accounts_one_clearing_per_currency",
            "bank_id",
            "currency",
            unique=True,
            sqlite_where=text("kind = 'clearing'"),
            postgresql_where=text("kind = 'clearing'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    bank_id: int = Field(foreign_key="banks.id", index=True)
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    name: str = Field(max_length=100)
    currency: str = Field(max_length=3)
    kind: str = Field(default="customer", max_length=10)
    status: str = Field(default="open", max_length=10)
    overdraft_limit: int = Field(default=0, sa_type=BigInteger)
    balance: int = Field(default=0, sa_type=BigInteger)
    # The sum of the holds on the account: the amounts of its payments awaiting approval.
    held: int = Field(default=0, sa_type=BigInteger)
    # Customer accounts' IBAN (electronic form, no spaces); clearing accounts have none.
    iban: str | None = Field(default=None, max_length=34, unique=True)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Transfer(SQLModel, table=True):
    """Money moved from one account to another of the same currency, exactly once."""

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="ck_transfers_amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="ck_transfers_two_accounts"),
        CheckConstraint(
            "kind IN ('transfer', 'deposit', 'withdrawal', 'payment')", name="ck_transfers_kind"
        ),
        Index("ix_transfers_debit", "debit_account_id", "id"),
        Index("ix_transfers_credit", "credit_account_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    bank_id: int = Field(foreign_key="banks.id")
    tenant_id: int | None = Field(default=None, foreign_key="tenants.id", index=True)
    kind: str = Field(max_length=12)
    debit_account_id: int = Field(foreign_key="accounts.id")
    credit_account_id: int = Field(foreign_key="accounts.id")
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    description: str = Field(default="", max_length=140)
    initiated_by_id: int = Field(foreign_key="users.id")
    grant_id: int | None = Field(default=None, foreign_key="grants.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Entry(SQLModel, table=True):
    """One side of a transfer on one account: negative debits, positive credits."""

    __tablename__ = "entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="ck_entries_amount_nonzero"),
        Index("ix_entries_account_id", "account_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigIntKey)
    transfer_id: int = Field(foreign_key="transfers.id", index=True)
    account_id: int = Field(foreign_key="accounts.id")
    amount: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    balance_after: int = Field(sa_type=BigInteger)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class IdempotencyRecord(SQLModel, table=True):
    """The stored outcome of a money-moving request, replayed for the same key and body."""

    __tablename__ = "idempotency_keys"

    scope: str = Field(max_length=40, primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    fingerprint: str = Field(max_length=64)
    user_id: int = Field(foreign_key="users.id")
    response_status: int
    response_body: str = Field(sa_type=Text)
    transfer_id: int | None = Field(default=None, foreign_key="transfers.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
