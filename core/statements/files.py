"""The file an export writes, in the format asked for."""

from __future__ import annotations

from collections.abc import Iterator

from core.db import Database
from core.statements.camt053 import camt053_file
from core.statements.csv_file import csv_file
from core.statements.export import StatementExport, StatementFormat, export_lines

MEDIA_TYPES = {
    StatementFormat.csv: "text/csv; charset=utf-8",
    StatementFormat.camt053: "application/xml",
}


def statement_file(db: Database, export: StatementExport) -> Iterator[bytes]:
    """The export's bytes, a chunk per page of entries, read from `db` as they are written."""
    pages = export_lines(db, export)
    if export.format is StatementFormat.csv:
        return csv_file(pages)
    return camt053_file(export, pages)
