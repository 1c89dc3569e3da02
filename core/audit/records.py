"""The chained records, as the chains' readers (verify, export, retention) fetch them: a page
of links' records in one query per table, a transfer with its entries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection, Table, select
from sqlalchemy.engine import RowMapping

from core.audit import canonical
from core.db import table_of
from core.models.audit import ChangeRecord, DecisionRecord
from core.models.ledger import Entry, Transfer
from core.models.payments import PaymentEvent

_ENTRIES = table_of(Entry)
RECORD_TABLES: dict[str, Table] = {
    canonical.TRANSFERS: table_of(Transfer),
    canonical.DECISIONS: table_of(DecisionRecord),
    canonical.CHANGES: table_of(ChangeRecord),
    canonical.PAYMENT_LOG: table_of(PaymentEvent),
}


def records_of(
    conn: Connection, links: Sequence[RowMapping]
) -> dict[tuple[str, int], tuple[RowMapping, list[RowMapping]]]:
    """The records a page of links names, by (table, id); a transfer with its entries."""
    wanted: dict[str, list[int]] = defaultdict(list)
    for link in links:
        wanted[link["record_table"]].append(link["record_id"])
    found: dict[tuple[str, int], tuple[RowMapping, list[RowMapping]]] = {}
    for table_name, ids in wanted.items():
        table = RECORD_TABLES.get(table_name)
        if table is None:
            continue
        rows = conn.execute(select(table).where(table.c.id.in_(ids))).mappings()
        for row in rows:
            found[(table_name, row["id"])] = (row, [])
        if table_name == canonical.TRANSFERS:
            entries = conn.execute(select(_ENTRIES).where(_ENTRIES.c.transfer_id.in_(ids)))
            for entry in entries.mappings():
                key = (table_name, entry["transfer_id"])
                if key in found:
                    found[key][1].append(entry)
    return found
