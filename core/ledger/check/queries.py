"""The read-only SQL behind the conservation, balances, overdraft, transfers and IBAN checks.

Work is aggregated in SQL over half-open ranges of ids, and only the rows that break an
invariant come back: memory stays bounded however large the ledger. Everything runs on the
caller's connection, inside its one read-only snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.engine import Connection

from core.db import table_of
from core.ledger.posting import overdraft_floor
from core.models.ledger import Account, Entry, Transfer
from core.progress import Progress

ACCOUNTS = table_of(Account)
ENTRIES = table_of(Entry)
TRANSFERS = table_of(Transfer)


class LedgerReader:
    """Reads one snapshot for the checks, reporting how far it got to `progress`."""

    def __init__(self, conn: Connection, *, batch_size: int, progress: Progress) -> None:
        self.conn = conn
        self.batch = batch_size
        self.progress = progress
        self.dialect = conn.dialect.name

    def ranges(self, column: Any, title: str, batch: int | None = None) -> Iterator[Any]:
        """Half-open id ranges (lo, hi] covering the table, reported to the progress bar."""
        size = batch or self.batch
        lo, hi = self.conn.execute(select(func.min(column), func.max(column))).one()
        if lo is None:
            self.progress.begin(title, 0)
            self.progress.end()
            return
        self.progress.begin(title, hi - lo + 1)
        start = lo - 1
        try:
            while start < hi:
                end = min(start + size, hi)
                yield start, end
                self.progress.advance(end - start)
                start = end
        finally:
            self.progress.end()

    def count(self, statement: Select[Any]) -> int:
        return int(self.conn.execute(statement).scalar_one())

    def entry_sums(self) -> Iterator[tuple[str, int, int]]:
        """(currency, sum of amounts, entries) for each range of entries."""
        e = ENTRIES.c
        for lo, hi in self.ranges(e.id, "conservation", self.batch * 10):
            rows = self.conn.execute(
                select(e.currency, func.sum(e.amount), func.count())
                .where(e.id > lo, e.id <= hi)
                .group_by(e.currency)
            )
            for currency, total, count in rows:
                yield currency, int(total), int(count)

    def unbalanced_accounts(self) -> Iterator[tuple[int, Any]]:
        """For each range of accounts: how many it holds, and rows (id, currency, balance,
        sum of entries, entries in another currency) of those whose balance is not the sum
        of their entries or that hold entries in another currency."""
        a, e = ACCOUNTS.c, ENTRIES.c
        total = func.coalesce(func.sum(e.amount), 0)
        foreign = func.coalesce(func.sum(case((e.currency != a.currency, 1), else_=0)), 0)
        for lo, hi in self.ranges(a.id, "balances", max(self.batch // 10, 1)):
            examined = self.count(select(func.count()).where(a.id > lo, a.id <= hi))
            rows = self.conn.execute(
                select(a.id, a.currency, a.balance, total, foreign)
                .select_from(ACCOUNTS.outerjoin(ENTRIES, e.account_id == a.id))
                .where(a.id > lo, a.id <= hi)
                .group_by(a.id, a.currency, a.balance)
                .having(or_(a.balance != total, foreign > 0))
                .order_by(a.id)
            )
            yield examined, rows

    def customer_accounts(self) -> int:
        return self.count(select(func.count()).where(ACCOUNTS.c.kind == "customer"))

    def overdrawn_accounts(self) -> Iterator[Any]:
        """(id, currency, balance, held, overdraft limit) of customer accounts whose balance,
        less what payments awaiting approval hold, is below their floor (core.ledger.posting:
        may_debit counts the holds the same way)."""
        a = ACCOUNTS.c
        self.progress.begin("overdraft", 1)
        rows = self.conn.execute(
            select(a.id, a.currency, a.balance, a.held, a.overdraft_limit)
            .where(a.kind == "customer", a.balance - a.held < overdraft_floor(a.overdraft_limit))
            .order_by(a.id)
        )
        yield from rows
        self.progress.advance(1)
        self.progress.end()

    def customer_ibans(self) -> Iterator[tuple[int, Any]]:
        """For each range of accounts: how many customer accounts it holds, and their (id,
        iban). Whether an IBAN is valid is schwifty's to say, not SQL's: each range's rows are
        judged in Python, so memory holds one range."""
        a = ACCOUNTS.c
        for lo, hi in self.ranges(a.id, "ibans"):
            rows = self.conn.execute(
                select(a.id, a.iban)
                .where(a.kind == "customer", a.id > lo, a.id <= hi)
                .order_by(a.id)
            ).all()
            yield len(rows), rows

    def unbalanced_transfers(self) -> Iterator[tuple[int, Any]]:
        """For each range of transfers: how many it holds, and the tallies (_per_transfer)
        of those that do not have exactly their two entries in their accounts' currency."""
        t = TRANSFERS.c
        per_transfer = _per_transfer()
        for lo, hi in self.ranges(t.id, "transfers"):
            examined = self.count(select(func.count()).where(t.id > lo, t.id <= hi))
            q = per_transfer.where(t.id > lo, t.id <= hi).subquery()
            rows = self.conn.execute(
                select(q)
                .where(
                    or_(
                        q.c.entries != 2,
                        q.c.debits != 1,
                        q.c.credits != 1,
                        q.c.debit_currency != q.c.currency,
                        q.c.credit_currency != q.c.currency,
                    )
                )
                .order_by(q.c.id)
            )
            yield examined, rows


def _per_transfer() -> Select[Any]:
    """Each transfer with its accounts' currencies, its entries counted, and how many of them
    are its debit (-amount on the debit account) and its credit (+amount on the credit
    account) in its currency."""
    t, e = TRANSFERS.c, ENTRIES.c
    debit_acc, credit_acc = ACCOUNTS.alias("debit_acc"), ACCOUNTS.alias("credit_acc")
    is_debit = and_(
        e.account_id == t.debit_account_id, e.amount == -t.amount, e.currency == t.currency
    )
    is_credit = and_(
        e.account_id == t.credit_account_id, e.amount == t.amount, e.currency == t.currency
    )
    transfer = (t.id, t.amount, t.currency, t.debit_account_id, t.credit_account_id)
    currencies = (debit_acc.c.currency, credit_acc.c.currency)
    return (
        select(
            *transfer,
            debit_acc.c.currency.label("debit_currency"),
            credit_acc.c.currency.label("credit_currency"),
            func.count(e.id).label("entries"),
            func.coalesce(func.sum(case((is_debit, 1), else_=0)), 0).label("debits"),
            func.coalesce(func.sum(case((is_credit, 1), else_=0)), 0).label("credits"),
        )
        .select_from(
            TRANSFERS.join(debit_acc, debit_acc.c.id == t.debit_account_id)
            .join(credit_acc, credit_acc.c.id == t.credit_account_id)
            .outerjoin(ENTRIES, e.transfer_id == t.id)
        )
        .group_by(*transfer, *currencies)
    )
