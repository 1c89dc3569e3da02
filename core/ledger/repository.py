"""Ledger queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, bindparam, exists, insert, select, text, update
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit import canonical, chain
from core.db import table_of
from core.ledger.posting import Posting
from core.models.ledger import Account, Entry, Transfer

_ACCOUNTS = table_of(Account)
_LOCK_ACCOUNTS = (
    select(_ACCOUNTS)
    .where(_ACCOUNTS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_ACCOUNTS.c.id)
)
_LOCK_ACCOUNTS_PG = _LOCK_ACCOUNTS.with_for_update(key_share=True)  # FOR NO KEY UPDATE


_ACCOUNT = select(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_id"))


def account_snapshot(
    session: Session, account_id: int, *, within: ColumnElement[bool] | None = None
) -> Account | None:
    """The account as it is now, detached: for reading and deciding, not for changing. With
    `within` (core.policy.filters.within_reach), only if the condition admits it."""
    stmt = _ACCOUNT if within is None else _ACCOUNT.where(within)
    row = session.connection().execute(stmt, {"account_id": account_id}).first()
    return None if row is None else Account(**row._mapping)


def lock_accounts(session: Session, ids: Iterable[int]) -> dict[int, Account]:
    """Read and lock accounts in id order, so that two transfers never wait on each other in a
    cycle. On SQLite the unit of work already holds the database's write lock. The accounts
    returned are detached snapshots: changes go through post_transfer, not the ORM."""
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = session.connection().execute(
        _LOCK_ACCOUNTS_PG if postgres else _LOCK_ACCOUNTS, {"ids": sorted(set(ids))}
    )
    return {row.id: Account(**row._mapping) for row in rows}


def lock_account_for_change(
    session: Session, account_id: int, *, within: ColumnElement[bool]
) -> Account | None:
    """The account as a persistent, locked ORM object: for changes to its own fields (status,
    overdraft limit, name), written when the session flushes; only if `within` admits it."""
    stmt = select(Account).where(col(Account.id) == account_id, within)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(key_share=True)
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


_TRANSFERS = table_of(Transfer)
_ENTRIES = table_of(Entry)
_INSERT_TRANSFER = insert(_TRANSFERS).returning(_TRANSFERS.c.id)
_INSERT_ENTRIES = insert(_ENTRIES)
_SET_BALANCE = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
    .values(balance=bindparam("new_balance"), updated_at=bindparam("now"))
)


# On PostgreSQL the transfer, its entries and both balances are written by one statement
# (data-modifying CTEs): one round trip instead of four on the hottest path. The accounts are
# locked by the caller.
_POST_PG = text(
    """
WITH t AS (
    INSERT INTO transfers (bank_id, tenant_id, kind, debit_account_id, credit_account_id, amount,
                           currency, description, initiated_by_id, grant_id, created_at)
    VALUES (:bank_id, :tenant_id, :kind, :debit_account_id, :credit_account_id, :amount,
            :currency, :description, :initiated_by_id, :grant_id, :created_at)
    RETURNING id
), e AS (
    INSERT INTO entries (transfer_id, account_id, amount, currency, balance_after, created_at)
    SELECT t.id, v.account_id, v.amount, :currency, v.balance_after, :created_at
    FROM t, (VALUES (CAST(:debit_account_id AS integer), CAST(-:amount AS bigint),
                     CAST(:debit_after AS bigint)),
                    (CAST(:credit_account_id AS integer), CAST(:amount AS bigint),
                     CAST(:credit_after AS bigint))) AS v (account_id, amount, balance_after)
), u AS (
    UPDATE accounts SET balance = v.balance, updated_at = :created_at
    FROM (VALUES (CAST(:debit_account_id AS integer), CAST(:debit_after AS bigint)),
                 (CAST(:credit_account_id AS integer), CAST(:credit_after AS bigint)))
         AS v (id, balance)
    WHERE accounts.id = v.id
)
SELECT id FROM t
"""
)


def _entry_rows(posting: Posting) -> list[dict[str, Any]]:
    """The posting's two entries (without their transfer's id)."""
    common = {"currency": posting.currency, "created_at": posting.created_at}
    return [
        {
            **common,
            "account_id": posting.debit_id,
            "amount": -posting.amount,
            "balance_after": posting.debit_after,
        },
        {
            **common,
            "account_id": posting.credit_id,
            "amount": posting.amount,
            "balance_after": posting.credit_after,
        },
    ]


def post_transfer(session: Session, posting: Posting) -> int:
    """Write a planned posting: the transfer, its two entries and both new balances, and note
    the transfer with its entries for its chain (core.audit.chain, sealed at commit). The
    accounts are locked by the caller. Returns the transfer's id."""
    transfer = posting.transfer_row()
    entries = _entry_rows(posting)
    if session.get_bind().dialect.name == "postgresql":
        params = {
            **transfer,
            "debit_after": posting.debit_after,
            "credit_after": posting.credit_after,
        }
        transfer_id: int = session.connection().execute(_POST_PG, params).scalar_one()
        chain.note(session, canonical.TRANSFERS, transfer_id, transfer, entries)
        return transfer_id
    transfer_id = session.connection().execute(_INSERT_TRANSFER, transfer).scalar_one()
    chain.note(session, canonical.TRANSFERS, transfer_id, transfer, entries)
    session.connection().execute(
        _INSERT_ENTRIES, [{**entry, "transfer_id": transfer_id} for entry in entries]
    )
    now = posting.created_at
    session.connection().execute(
        _SET_BALANCE,
        [
            {"account_id": posting.debit_id, "new_balance": posting.debit_after, "now": now},
            {"account_id": posting.credit_id, "new_balance": posting.credit_after, "now": now},
        ],
    )
    return transfer_id


_CLEARING = select(_ACCOUNTS.c.id).where(
    _ACCOUNTS.c.bank_id == bindparam("bank_id"),
    _ACCOUNTS.c.kind == "clearing",
    _ACCOUNTS.c.currency == bindparam("currency"),
)


def clearing_account_id(session: Session, bank_id: int, currency: str) -> int | None:
    """The id of the bank's clearing account in `currency`, if it has one."""
    found = session.connection().scalar(_CLEARING, {"bank_id": bank_id, "currency": currency})
    return None if found is None else int(found)


def first_accounts(session: Session, where: ColumnElement[bool], *, limit: int) -> list[Account]:
    """The first `limit` accounts matching `where`, in id order."""
    return list(session.scalars(accounts(where).order_by(col(Account.id)).limit(limit)))


def accounts(where: ColumnElement[bool]) -> Select[Account]:
    """The accounts `where` admits, in no order (core.pagination orders its pages)."""
    return select(Account).where(where)


# Columns, not ORM objects: a statement page is read-only, and hydrating a hundred objects
# would cost more than the query.
# With the companies of both sides, so that an entry names its counterparty only where the
# account's company may know it (core.ledger.accounts.entry_public).
_DEBITED = _ACCOUNTS.alias("debited")
_CREDITED = _ACCOUNTS.alias("credited")
_ENTRIES_WITH_TRANSFERS = (
    select(
        _ENTRIES.c.id,
        _ENTRIES.c.transfer_id,
        _ENTRIES.c.amount,
        _ENTRIES.c.currency,
        _ENTRIES.c.balance_after,
        _ENTRIES.c.created_at,
        _TRANSFERS.c.kind,
        _TRANSFERS.c.debit_account_id,
        _TRANSFERS.c.credit_account_id,
        _TRANSFERS.c.description,
        _DEBITED.c.tenant_id.label("debit_tenant_id"),
        _CREDITED.c.tenant_id.label("credit_tenant_id"),
    )
    .join(_TRANSFERS, _TRANSFERS.c.id == _ENTRIES.c.transfer_id)
    .join(_DEBITED, _DEBITED.c.id == _TRANSFERS.c.debit_account_id)
    .join(_CREDITED, _CREDITED.c.id == _TRANSFERS.c.credit_account_id)
)
ENTRY_KEY = _ENTRIES.c.id


def entries(account_id: int, *, through: int | None = None) -> Select[*tuple[Any, ...]]:
    """An account's entries with their transfers (up to the entry `through` if given), in no
    order (pages go newest first, or oldest first for an export, by ENTRY_KEY)."""
    statement = _ENTRIES_WITH_TRANSFERS.where(_ENTRIES.c.account_id == account_id)
    if through is not None:
        statement = statement.where(_ENTRIES.c.id <= through)
    return statement


def last_entry_before(
    session: Session, account_id: int, moment: dt.datetime
) -> Row[*tuple[Any, ...]] | None:
    """The account's last entry (id, balance_after) booked before `moment`: where a
    statement period starts (its balance is the opening one) or ends. Walks the
    (account_id, id) index back from the newest entry, so it costs the entries after
    `moment`, not the account's whole history."""
    return session.execute(
        select(_ENTRIES.c.id, _ENTRIES.c.balance_after)
        .where(_ENTRIES.c.account_id == account_id, _ENTRIES.c.created_at < moment)
        .order_by(_ENTRIES.c.id.desc())
        .limit(1)
    ).first()


def transfer(session: Session, transfer_id: int, *, within: ColumnElement[bool]) -> Transfer | None:
    """The transfer, if `within` (a condition on Account) admits one of its two accounts."""
    touches = exists(
        select(col(Account.id)).where(
            col(Account.id).in_([col(Transfer.debit_account_id), col(Transfer.credit_account_id)]),
            within,
        )
    )
    return session.scalars(select(Transfer).where(col(Transfer.id) == transfer_id, touches)).first()


def account_ids_of(session: Session, tenant_id: int) -> set[int]:
    """The ids of a company's accounts (a company holds tens, not millions)."""
    return set(session.scalars(select(col(Account.id)).where(col(Account.tenant_id) == tenant_id)))


def transfers(readable: ColumnElement[bool]) -> Select[Transfer]:
    """Transfers touching an account the reader may read, in no order."""
    readable_ids = select(col(Account.id)).where(readable)
    return select(Transfer).where(
        col(Transfer.debit_account_id).in_(readable_ids)
        | col(Transfer.credit_account_id).in_(readable_ids)
    )
