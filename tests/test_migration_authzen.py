"""Migration 0018: the decision log's asked_by_id, and the built-in role decision_service for
every bank and tenant that existed before it (new ones are seeded with it)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect, text

from core import migrate
from tests.authzen_world import with_decision_services


def _roles(url: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT bank_id, tenant_id, level FROM roles "
                    "WHERE key = 'decision_service' ORDER BY bank_id, tenant_id"
                )
            )
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


def _has_asked_by(url: str) -> bool:
    engine = create_engine(url)
    try:
        return "asked_by_id" in {c["name"] for c in inspect(engine).get_columns("decisions")}
    finally:
        engine.dispose()


def test_existing_banks_and_tenants_get_the_role_once(app, db, world, clock, database_url):
    bank = world.bank.id
    acme, globex = world.tenants["acme"].id, world.tenants["globex"].id
    every = sorted(
        [(bank, None, "bank"), (bank, acme, "tenant"), (bank, globex, "tenant")],
        key=lambda r: (r[0], r[1] or 0),
    )
    assert sorted(_roles(database_url), key=lambda r: (r[0], r[1] or 0)) == every
    # The world's three decision services hold them: a downgrade keeps held roles.
    with_decision_services(db, app.state.services.passwords, world, clock)
    db.dispose()
    command.downgrade(migrate.alembic_config(database_url), "0016_totp")
    assert not _has_asked_by(database_url)
    assert len(_roles(database_url)) == 3
    # The bank's service goes, and its role with it: the upgrade gives the bank one again.
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM grants WHERE role_id IN (SELECT id FROM roles WHERE key = 'decision_service' AND tenant_id IS NULL)"
            )
        )
        conn.execute(text("DELETE FROM roles WHERE key = 'decision_service' AND tenant_id IS NULL"))
    engine.dispose()
    migrate.upgrade(database_url)
    assert _has_asked_by(database_url)
    # The bank's is back; the tenants' kept ones are not doubled.
    assert sorted(_roles(database_url), key=lambda r: (r[0], r[1] or 0)) == every
