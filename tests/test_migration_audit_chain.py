"""Migration 0019: the records written before chains existed are chained by the migration,
each chain in the order its records were made, and verify as the running code's do."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, text

from core import migrate
from core.audit import canonical
from core.audit.verify import verify_database
from core.db import Database
from tests.core.audit.test_chain import _traffic


def _scalar(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    finally:
        engine.dispose()


def test_existing_records_are_chained_by_the_migration(client, app, world, clock, db, database_url):
    _traffic(client, app, world, clock)
    records = sum(
        _scalar(database_url, f"SELECT count(*) FROM {t}") for t in canonical.CHAINED_TABLES
    )
    db.dispose()
    command.downgrade(migrate.alembic_config(database_url), "0016_totp")
    migrate.upgrade(database_url)
    assert _scalar(database_url, "SELECT count(*) FROM audit_links") == records
    assert _scalar(database_url, "SELECT sum(seq) FROM audit_chains") == records
    fresh = Database(database_url, pool_size=1)
    try:
        report = verify_database(fresh)
    finally:
        fresh.dispose()
    assert report.ok and report.links == records, report.render()
