"""Ledger queries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlmodel import col

from core.db import table_of
from core.models.iam import GrantSpend, PersonSpend
from core.models.ledger import Account, Entry, Transfer

_ACCOUNTS = table_of(Account)
_LOCK_ACCOUNTS = (
    select(_ACCOUNTS)
    .where(_ACCOUNTS.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_ACCOUNTS.c.id)
)
_LOCK_ACCOUNTS_PG = _LOCK_ACCOUNTS.with_for_update(key_share=True)  # FOR NO KEY UPDATE


_ACCOUNT = select(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("account_id"))


def account_snapshot(session: Session, account_id: int) -> Account | None:
    """The account as it is now, detached: for reading and deciding, not for changing."""
    row = session.connection().execute(_ACCOUNT, {"account_id": account_id}).first()
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


def lock_account_for_change(session: Session, account_id: int) -> Account | None:
    """The account as a persistent, locked ORM object: for changes to its own fields (status,
    overdraft limit, name), written when the session flushes."""
    stmt = select(Account).where(col(Account.id) == account_id)
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


# On PostgreSQL the transfer, its entries, both balances and the running totals of the grant
# and the person are written by one statement (data-modifying CTEs): one round trip instead of
# six on the hottest path. The accounts (and the person, under a cumulative limit) are locked by
# the caller.
_POST_TRANSFER_PG = """
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
){spend}
SELECT id FROM t
"""
_SPEND_PG = """, s AS (
    INSERT INTO grant_spend (grant_id, currency, day, amount)
    VALUES (:grant_id, :currency, :spend_day, :amount)
    ON CONFLICT (grant_id, currency, day)
    DO UPDATE SET amount = grant_spend.amount + excluded.amount
), p AS (
    INSERT INTO person_spend (user_id, currency, day, amount)
    VALUES (:initiated_by_id, :currency, :spend_day, :amount)
    ON CONFLICT (user_id, currency, day)
    DO UPDATE SET amount = person_spend.amount + excluded.amount
)"""
_POST_PG = text(_POST_TRANSFER_PG.format(spend=""))
_POST_PG_WITH_SPEND = text(_POST_TRANSFER_PG.format(spend=_SPEND_PG))


def post_transfer(
    session: Session,
    transfer: dict[str, Any],
    debit: Account,
    credit: Account,
    *,
    spend_day: object | None = None,
) -> int:
    """Write a transfer, its two entries, both new balances and (with `spend_day`) the running
    totals of its grant and of the person who made it, for that day in the transfer's currency.
    The accounts (and the person, under a cumulative limit) are locked by the caller. Returns
    the id."""
    amount = transfer["amount"]
    debit_after, credit_after = debit.balance - amount, credit.balance + amount
    if session.get_bind().dialect.name == "postgresql":
        statement = _POST_PG if spend_day is None else _POST_PG_WITH_SPEND
        params = {
            **transfer,
            "debit_after": debit_after,
            "credit_after": credit_after,
            "spend_day": spend_day,
        }
        transfer_id: int = session.connection().execute(statement, params).scalar_one()
        debit.balance, credit.balance = debit_after, credit_after
        return transfer_id
    transfer_id = _post_in_steps(session, transfer, debit, credit)
    if spend_day is not None:
        add_spend(
            session,
            grant_id=transfer["grant_id"],
            user_id=transfer["initiated_by_id"],
            currency=transfer["currency"],
            day=spend_day,
            amount=amount,
        )
    return transfer_id


def _post_in_steps(
    session: Session, transfer: dict[str, Any], debit: Account, credit: Account
) -> int:
    amount, now = transfer["amount"], transfer["created_at"]
    transfer_id: int = session.connection().execute(_INSERT_TRANSFER, transfer).scalar_one()
    debit_after, credit_after = debit.balance - amount, credit.balance + amount
    common = {"transfer_id": transfer_id, "currency": transfer["currency"], "created_at": now}
    session.connection().execute(
        _INSERT_ENTRIES,
        [
            {**common, "account_id": debit.id, "amount": -amount, "balance_after": debit_after},
            {**common, "account_id": credit.id, "amount": amount, "balance_after": credit_after},
        ],
    )
    session.connection().execute(
        _SET_BALANCE,
        [
            {"account_id": debit.id, "new_balance": debit_after, "now": now},
            {"account_id": credit.id, "new_balance": credit_after, "now": now},
        ],
    )
    debit.balance, credit.balance = debit_after, credit_after
    return transfer_id


def _add_spend_statement(model: Any, owner: str, insert_for_dialect: Any) -> Any:
    spend = table_of(model)
    stmt = insert_for_dialect(spend).values(
        {
            owner: bindparam(owner),
            "currency": bindparam("currency"),
            "day": bindparam("day"),
            "amount": bindparam("amount"),
        }
    )
    return stmt.on_conflict_do_update(
        index_elements=[owner, "currency", "day"],
        set_={"amount": spend.c.amount + stmt.excluded.amount},
    )


_ADD_SPEND = {
    dialect: (
        _add_spend_statement(GrantSpend, "grant_id", insert_for_dialect),
        _add_spend_statement(PersonSpend, "user_id", insert_for_dialect),
    )
    for dialect, insert_for_dialect in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def add_spend(
    session: Session, *, grant_id: int, user_id: int, currency: str, day: object, amount: int
) -> None:
    """Add to what was sent today, in one currency, under a grant and by its holder."""
    grant_statement, person_statement = _ADD_SPEND[session.get_bind().dialect.name]
    common = {"currency": currency, "day": day, "amount": amount}
    session.connection().execute(grant_statement, {**common, "grant_id": grant_id})
    session.connection().execute(person_statement, {**common, "user_id": user_id})


def accounts_page(
    session: Session, where: ColumnElement[bool], *, after_id: int | None, limit: int
) -> list[Account]:
    stmt = accounts(where).order_by(col(Account.id)).limit(limit)
    if after_id is not None:
        stmt = stmt.where(col(Account.id) > after_id)
    return list(session.scalars(stmt))


def accounts(where: ColumnElement[bool]) -> Select[Account]:
    """The accounts `where` admits, in no order (core.pagination orders its pages)."""
    return select(Account).where(where)


# Columns, not ORM objects: a statement page is read-only, and hydrating a hundred objects
# would cost more than the query.
_ENTRIES_WITH_TRANSFERS = select(
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
).join(_TRANSFERS, _TRANSFERS.c.id == _ENTRIES.c.transfer_id)
ENTRY_KEY = _ENTRIES.c.id


def entries(account_id: int) -> Select[*tuple[Any, ...]]:
    """An account's entries with their transfers, in no order (pages go newest first, by
    ENTRY_KEY)."""
    return _ENTRIES_WITH_TRANSFERS.where(_ENTRIES.c.account_id == account_id)


def transfers(readable: ColumnElement[bool]) -> Select[Transfer]:
    """Transfers touching an account the reader may read, in no order."""
    readable_ids = select(col(Account.id)).where(readable)
    return select(Transfer).where(
        col(Transfer.debit_account_id).in_(readable_ids)
        | col(Transfer.credit_account_id).in_(readable_ids)
    )
