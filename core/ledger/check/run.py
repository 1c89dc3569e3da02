"""Running the checks: in one read-only snapshot of a database, or on the caller's open
connection (the tests check inside their own transaction)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from core.db import Database
from core.ledger.check.checks import CHECK_TABLE, CHECKS, Snapshot
from core.ledger.check.queries import LedgerReader
from core.ledger.check.report import LedgerReport
from core.progress import NoProgress, Progress


def check_database(
    db: Database,
    *,
    checks: Sequence[str] = CHECKS,
    batch_size: int = 10_000,
    progress: Progress | None = None,
) -> LedgerReport:
    """Run the checks against a database in one read-only snapshot."""
    conn = db.engine.connect()
    try:
        if db.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if db.dialect == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            return run_checks(conn, checks=checks, batch_size=batch_size, progress=progress)
    finally:
        conn.close()


def run_checks(
    conn: Connection,
    *,
    checks: Sequence[str] = CHECKS,
    batch_size: int = 10_000,
    progress: Progress | None = None,
) -> LedgerReport:
    """Run the checks on an open connection (inside the caller's transaction), in the
    table's order whatever the order asked for."""
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise ValueError(f"unknown checks: {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    reader = LedgerReader(conn, batch_size=max(batch_size, 1), progress=progress or NoProgress())
    snapshot = Snapshot(reader)
    return LedgerReport([check.run(snapshot) for check in CHECK_TABLE if check.code in checks])
