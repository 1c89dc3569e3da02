"""A statement as CSV: one row per entry, written through the csv module a page at a time.

Spreadsheets run a cell that starts with = + - @ (or a tab or carriage return) as a formula:
text a customer typed (a counterparty's name, a reference) gets a leading apostrophe there, so
a payee called "=HYPERLINK(...)" stays text. Amounts are numbers and are written as they are."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from core.money import decimal_amount
from core.statements.lines import StatementLine

HEADER = (
    "booking_date",
    "value_date",
    "amount",
    "currency",
    "balance_after",
    "counterparty_name",
    "counterparty_iban",
    "reference",
    "transfer_id",
    "payment_id",
    "entry_id",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """`text`, with a leading apostrophe if a spreadsheet would read it as a formula."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_row(line: StatementLine) -> tuple[str, ...]:
    # Value date: Mandate books and values an entry on the same day.
    day = line.booked_on.isoformat()
    return (
        day,
        day,
        decimal_amount(line.amount, line.currency),
        line.currency,
        decimal_amount(line.balance_after, line.currency),
        spreadsheet_safe(line.counterparty.name),
        line.counterparty.iban,
        spreadsheet_safe(line.reference),
        str(line.transfer_id),
        "" if line.payment_id is None else str(line.payment_id),
        str(line.entry_id),
    )


def csv_file(pages: Iterable[list[StatementLine]]) -> Iterator[bytes]:
    """The file's bytes (UTF-8), the header first, then one chunk per page of entries."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> bytes:
        chunk = buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
        return chunk

    writer.writerow(HEADER)
    yield flush()
    for lines in pages:
        writer.writerows(csv_row(line) for line in lines)
        yield flush()
