"""Ledger queries."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.iam.models import GrantSpend
from core.ledger.models import Account, Entry, Transfer


def lock_accounts(session: Session, ids: Iterable[int]) -> dict[int, Account]:
    """Load and lock accounts in id order, so that two transfers never wait on each other in a
    cycle. On SQLite the unit of work already holds the database's write lock."""
    ordered = sorted(set(ids))
    stmt = select(Account).where(Account.id.in_(ordered)).order_by(Account.id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(key_share=True)  # FOR NO KEY UPDATE
    rows = session.scalars(stmt.execution_options(populate_existing=True))
    return {a.id: a for a in rows if a.id is not None}


def add_spend(session: Session, grant_id: int, day: object, amount: int) -> None:
    """Add to what was sent under a grant today (the grant's row is locked by the caller)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(GrantSpend).values(grant_id=grant_id, day=day, amount=amount)
    stmt = stmt.on_conflict_do_update(
        index_elements=["grant_id", "day"],
        set_={"amount": GrantSpend.amount + stmt.excluded.amount},
    )
    session.execute(stmt)


def accounts_page(
    session: Session, where: ColumnElement[bool], *, after_id: int | None, limit: int
) -> list[Account]:
    stmt = select(Account).where(where).order_by(Account.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Account.id > after_id)
    return list(session.scalars(stmt))


def entries_page(
    session: Session, account_id: int, *, before_id: int | None, limit: int
) -> list[tuple[Entry, Transfer]]:
    """Newest first; `before_id` is the last entry id of the previous page."""
    stmt = (
        select(Entry, Transfer)
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .where(Entry.account_id == account_id)
        .order_by(Entry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(Entry.id < before_id)
    return [(e, t) for e, t in session.execute(stmt)]


def transfers_page(
    session: Session, readable: ColumnElement[bool], *, before_id: int | None, limit: int
) -> list[Transfer]:
    """Transfers touching an account the reader may read, newest first."""
    readable_ids = select(Account.id).where(readable)
    stmt = (
        select(Transfer)
        .where(
            Transfer.debit_account_id.in_(readable_ids)
            | Transfer.credit_account_id.in_(readable_ids)
        )
        .order_by(Transfer.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(Transfer.id < before_id)
    return list(session.scalars(stmt))
