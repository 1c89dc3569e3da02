"""The file an export writes, in the format asked for."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from core.db import Database
from core.statements.camt053 import camt053_file
from core.statements.csv_file import csv_file
from core.statements.export import StatementExport, StatementFormat, export_lines
from core.statements.lines import StatementLine

MEDIA_TYPES = {
    StatementFormat.csv: "text/csv; charset=utf-8",
    StatementFormat.camt053: "application/xml",
}


def statement_file(
    db: Database, export: StatementExport, *, on_page: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """The export's bytes, a chunk per page of entries, read from `db` as they are written;
    `on_page` is told how many entries each page had (a command's progress)."""
    pages = export_lines(db, export)
    if on_page is not None:
        pages = _counted(pages, on_page)
    if export.format is StatementFormat.csv:
        return csv_file(pages)
    return camt053_file(export, pages)


def _counted(
    pages: Iterator[list[StatementLine]], on_page: Callable[[int], None]
) -> Iterator[list[StatementLine]]:
    for lines in pages:
        yield lines
        on_page(len(lines))
