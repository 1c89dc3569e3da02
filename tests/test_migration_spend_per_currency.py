"""Migration 0003: running totals kept per currency and per person. An existing
database's (grant, day) totals are split by the currency of the transfers they count."""

from __future__ import annotations

import datetime as dt

from alembic import command
from sqlalchemy import create_engine, text

from core import migrate
from core.context import RequestContext
from core.ledger import service as ledger
from core.ledger.schemas import AccountCreate, TransferCreate
from tests.factories import new_key, staff_context


def _rows(url: str, sql: str, **params: object) -> set[tuple[object, ...]]:
    """Rows as tuples, days as dates (SQLite hands raw SQL its dates as text)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                tuple(
                    dt.date.fromisoformat(v) if isinstance(v, str) and v[:2] == "20" else v
                    for v in row
                )
                for row in conn.execute(text(sql), params)
            }
    finally:
        engine.dispose()


def _post(db, ctx: RequestContext, source: int, target: int, amount: int, currency: str) -> None:  # type: ignore[no-untyped-def]
    body = TransferCreate(
        from_account_id=source, to_account_id=target, amount=amount, currency=currency
    )
    fresh = RequestContext(actor=ctx.actor, clock=ctx.clock)
    db.run(lambda s: ledger.create_transfer(s, fresh, body, new_key()))


def test_existing_totals_are_split_per_currency_and_summed_per_person(
    db, world, clock, database_url
):
    manager = staff_context(db, "manager", clock)
    second_usd = db.run(
        lambda s: ledger.open_account(
            s,
            RequestContext(actor=manager.actor, clock=clock),
            AccountCreate(tenant_id=world.tenants["acme"].id, name="usd-2", currency="USD"),  # type: ignore[arg-type]
        )
    ).id
    payer = staff_context(db, "acme-payer", clock)
    operating, payroll = world.account_id("acme-operating"), world.account_id("acme-payroll")
    clock.at = dt.datetime(2026, 11, 25, 22, 30, tzinfo=dt.UTC)  # the 25th in Berlin
    _post(db, payer, operating, payroll, 100_00, "EUR")
    clock.advance(hours=1)  # 00:30 on the 26th in Berlin, still the 25th in UTC
    _post(db, payer, operating, payroll, 250_00, "EUR")
    _post(db, payer, world.account_id("acme-usd"), second_usd, 40_00, "USD")  # type: ignore[arg-type]
    grant, user = world.grants["acme-payer"].id, world.user_id("acme-payer")
    # The payer's totals (the manager's deposits count under the manager's grant).
    grant_rows = f"SELECT grant_id, currency, day, amount FROM grant_spend WHERE grant_id = {grant}"
    person_rows = f"SELECT user_id, currency, day, amount FROM person_spend WHERE user_id = {user}"
    written = _rows(database_url, grant_rows)
    assert written == {
        (grant, "EUR", dt.date(2026, 11, 25), 100_00),
        (grant, "EUR", dt.date(2026, 11, 26), 250_00),
        (grant, "USD", dt.date(2026, 11, 26), 40_00),
    }
    assert _rows(database_url, person_rows) == {(user, *row[1:]) for row in written}

    # Every holder's totals: the manager's deposits in EUR and USD fell on one day.
    every_grant = _rows(database_url, "SELECT grant_id, currency, day, amount FROM grant_spend")
    every_person = _rows(database_url, "SELECT user_id, currency, day, amount FROM person_spend")
    assert len({(g, d) for g, _, d, _ in every_grant}) < len(every_grant)

    db.dispose()
    command.downgrade(migrate.alembic_config(database_url), "0002")
    # The old shape: one total per grant and day, every currency summed.
    assert _rows(
        database_url, f"SELECT grant_id, day, amount FROM grant_spend WHERE grant_id = {grant}"
    ) == {
        (grant, dt.date(2026, 11, 25), 100_00),
        (grant, dt.date(2026, 11, 26), 290_00),
    }
    # A total no transfer accounts for goes to the currency the grant moved most.
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO grant_spend (grant_id, day, amount) VALUES (:g, :d, 5)"),
            {"g": grant, "d": dt.date(2026, 11, 2)},
        )
    engine.dispose()

    migrate.upgrade(database_url)
    orphan = (grant, "EUR", dt.date(2026, 11, 2), 5)
    assert _rows(database_url, grant_rows) == written | {orphan}
    assert _rows(database_url, person_rows) == {(user, *row[1:]) for row in written | {orphan}}
    everything = _rows(database_url, "SELECT grant_id, currency, day, amount FROM grant_spend")
    assert everything == every_grant | {orphan}
    people = _rows(database_url, "SELECT user_id, currency, day, amount FROM person_spend")
    assert people == every_person | {(user, *orphan[1:])}
