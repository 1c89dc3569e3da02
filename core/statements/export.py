"""Exporting a statement: check the request and the reader's right once, then write the file
page by page.

The period's bounds are fixed when the export is asked for: the last entry booked before its
first day (whose balance is the opening balance) and the last one booked before the day after
its last (the closing balance). Entries are append-only, so the pages read afterwards, each in
a short read transaction of its own, hold exactly the entries between the two, whatever is
posted meanwhile, and the file's balances agree with its entries to the cent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.db import Database
from core.errors import InvalidRequest
from core.ledger import repository as ledger_repository
from core.ledger.accounts import entries_page, load_readable_account
from core.models.iam import Bank, Tenant
from core.pagination import PageRequest
from core.statements.lines import StatementLine, statement_lines

# The longest period one export covers: a year, leap day included.
MAX_PERIOD_DAYS = 366
# Entries read per transaction while a file is written.
EXPORT_PAGE = 1000


class StatementFormat(StrEnum):
    csv = "csv"
    camt053 = "camt053"


@dataclass(frozen=True)
class StatementExport:
    """What an export covers, fixed when it was asked for (see the module's docstring)."""

    account_id: int
    tenant_id: int | None
    account_name: str
    iban: str | None
    currency: str
    bank_name: str
    zone: ZoneInfo
    first_day: dt.date
    last_day: dt.date
    format: StatementFormat
    created_at: dt.datetime
    # Entries after `after_entry` up to `through_entry` (None: the period has none).
    after_entry: int
    through_entry: int | None
    opening_balance: int
    closing_balance: int

    @property
    def filename(self) -> str:
        extension = "csv" if self.format is StatementFormat.csv else "xml"
        return f"statement-{self.account_id}-{self.first_day}-{self.last_day}.{extension}"


def statement_format(text: str) -> StatementFormat:
    try:
        return StatementFormat(text)
    except ValueError:
        raise InvalidRequest("format is csv or camt053", code="unknown_statement_format") from None


def check_period(first_day: dt.date, last_day: dt.date) -> None:
    """A period runs forward and covers at most MAX_PERIOD_DAYS days (both ends counted)."""
    if first_day > last_day:
        raise InvalidRequest("from must be on or before to", code="invalid_period")
    if (last_day - first_day).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidRequest(
            f"a statement export covers at most {MAX_PERIOD_DAYS} days",
            code="period_too_long",
        )


def open_export(
    session: Session,
    ctx: RequestContext,
    account_id: int,
    *,
    first_day: dt.date,
    last_day: dt.date,
    format: str,
) -> StatementExport:
    """Check the request and the caller's statement.read over the account (a decision,
    logged like every statement read; unreadable: 404) and fix what the export covers.
    Days are the tenant's (its time zone)."""
    chosen = statement_format(format)
    check_period(first_day, last_day)
    account = load_readable_account(session, ctx, account_id, "statement.read")
    tenant = session.get(Tenant, account.tenant_id) if account.tenant_id else None
    bank = session.get(Bank, account.bank_id)
    assert bank is not None
    zone = ZoneInfo(tenant.timezone if tenant else "UTC")
    start = dt.datetime.combine(first_day, dt.time(), zone)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), zone)
    before = ledger_repository.last_entry_before(session, account_id, start)
    through = ledger_repository.last_entry_before(session, account_id, end)
    after_entry = before.id if before else 0
    opening = before.balance_after if before else 0
    has_entries = through is not None and through.id > after_entry
    return StatementExport(
        account_id=account_id,
        tenant_id=account.tenant_id,
        account_name=account.name,
        iban=account.iban,
        currency=account.currency,
        bank_name=bank.name,
        zone=zone,
        first_day=first_day,
        last_day=last_day,
        format=chosen,
        created_at=ctx.now(),
        after_entry=after_entry,
        through_entry=through.id if has_entries and through else None,
        opening_balance=opening,
        closing_balance=through.balance_after if has_entries and through else opening,
    )


def export_lines(db: Database, export: StatementExport) -> Iterator[list[StatementLine]]:
    """The export's lines oldest first, a page at a time, each page read in a transaction of
    its own (a year of a busy account is never held open, nor in memory)."""
    if export.through_entry is None:
        return
    after = export.after_entry
    while True:
        with db.unit_of_work(write=False) as session:
            page = entries_page(
                session,
                export.account_id,
                PageRequest(size=EXPORT_PAGE, after=after),
                oldest_first=True,
                through=export.through_entry,
            )
            lines = statement_lines(session, export.tenant_id, export.zone, page.items)
        if lines:
            yield lines
        if page.next_cursor is None:
            return
        after = page.items[-1].id
