"""The trail's tables refuse UPDATE and DELETE (database triggers, as for entries): decisions,
changes, payments' logs, chain links and checkpoints. An erasure (personal fields, salts)
and a retention purge (records and links past retention) lift the refusal for their own
transaction only, with a row in audit_maintenance they remove before it commits: another
transaction never sees it (PostgreSQL), or cannot run meanwhile (SQLite's write lock)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from core.db import table_of
from core.models.audit_chain import AuditMaintenance

_MAINTENANCE = table_of(AuditMaintenance)
GUARDED_TABLES = ("decisions", "changes", "payment_log", "audit_links", "audit_checkpoints")


@contextmanager
def trail_maintenance(session: Session, reason: str) -> Iterator[None]:
    """Within the block, this transaction may update and delete the trail's rows."""
    connection = session.connection()
    row_id = connection.execute(
        insert(_MAINTENANCE).values(reason=reason).returning(_MAINTENANCE.c.id)
    ).scalar_one()
    yield
    session.flush()
    connection.execute(delete(_MAINTENANCE).where(_MAINTENANCE.c.id == row_id))
