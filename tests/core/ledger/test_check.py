"""`mandate ledger check`: a healthy ledger passes every check, and a copy corrupted on purpose
fails exactly the checks that guard what was broken."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Connection
from typer.testing import CliRunner

from core.cli import app as cli
from core.context import RequestContext
from core.db import Database
from core.ledger import service as ledger
from core.ledger.check import CHECKS, LedgerReport, check_database
from core.ledger.schemas import AccountUpdate, DepositCreate, TransferCreate
from tests.factories import World, new_key, staff_context

UTC = dt.UTC


def post_activity(db: Database, world: World, clock) -> None:  # type: ignore[no-untyped-def]
    """Transfers on both sides of midnight in Berlin (Acme's zone), a withdrawal and a USD
    deposit: the checker must count days the way the posting transaction does."""
    payer = staff_context(db, "acme-payer", clock)
    manager = staff_context(db, "manager", clock)
    operating, payroll = world.account_id("acme-operating"), world.account_id("acme-payroll")
    clock.at = dt.datetime(2026, 11, 25, 22, 30, tzinfo=UTC)  # 23:30 on the 25th in Berlin
    for amount, step in ((100_00, 0), (250_00, 1), (75_00, 0)):
        clock.advance(hours=step)  # then 00:30 on the 26th in Berlin, still the 25th in UTC
        body = TransferCreate(
            from_account_id=operating, to_account_id=payroll, amount=amount, currency="EUR"
        )
        db.run(lambda s, b=body: ledger.create_transfer(s, _fresh(payer, clock), b, new_key()))
    withdrawal = DepositCreate(account_id=payroll, amount=30_00, currency="EUR")
    db.run(lambda s: ledger.create_withdrawal(s, _fresh(manager, clock), withdrawal, new_key()))
    # The USD account is allowed an overdraft of 100.00 and uses 45.00 of it.
    usd = world.account_id("acme-usd")
    deposit = DepositCreate(account_id=usd, amount=5_00, currency="USD")
    db.run(lambda s: ledger.create_deposit(s, _fresh(manager, clock), deposit, new_key()))
    overdraft = AccountUpdate(overdraft_limit=100_00)
    db.run(lambda s: ledger.update_account(s, _fresh(manager, clock), usd, overdraft))
    overdraw = DepositCreate(account_id=usd, amount=10_050_00, currency="USD")
    db.run(lambda s: ledger.create_withdrawal(s, _fresh(manager, clock), overdraw, new_key()))


def _fresh(ctx: RequestContext, clock) -> RequestContext:  # type: ignore[no-untyped-def]
    # A new request: its own audit trail.
    return RequestContext(actor=ctx.actor, clock=clock)


@contextmanager
def database_copy(db: Database) -> Iterator[Database]:
    """A copy of the test database, for corrupting: a SQLite backup, or a PostgreSQL database
    made from the test database as a template (dropped afterwards)."""
    url = make_url(db.url)
    if db.is_sqlite:
        copy_path = f"{url.database}.copy-{os.getpid()}"
        source, target = sqlite3.connect(url.database or ""), sqlite3.connect(copy_path)
        with target:
            source.backup(target)
        source.close()
        target.close()
        copy = Database(f"sqlite:///{copy_path}", pool_size=1)
        try:
            yield copy
        finally:
            copy.dispose()
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(copy_path + suffix):
                    os.remove(copy_path + suffix)
        return
    db.dispose()  # a template database must have no other sessions
    name = f"{url.database}_copy_{os.getpid()}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        # Idle pooled connections other tests left open would block the copy: end them
        # (pools ping before use, so their owners reconnect).
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :db AND state = 'idle' AND pid <> pg_backend_pid()"
            ),
            {"db": url.database},
        )
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
    copy = Database(url.set(database=name).render_as_string(hide_password=False), pool_size=1)
    try:
        yield copy
    finally:
        copy.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def unlock(conn: Connection) -> None:
    """Let this copy be corrupted: lift the append-only triggers and the overdraft check."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE entries DISABLE TRIGGER USER"))
        conn.execute(text("ALTER TABLE transfers DISABLE TRIGGER USER"))
        conn.execute(text("ALTER TABLE accounts DROP CONSTRAINT ck_accounts_within_overdraft"))
    else:
        for table in ("entries", "transfers"):
            for event in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER {table}_no_{event}"))
        conn.execute(text("PRAGMA ignore_check_constraints = ON"))


def one(conn: Connection, sql: str, **params: object) -> int:
    return int(conn.execute(text(sql), params).scalar_one())


# -- the corruptions: each breaks one thing, as a bug or a hand-edit would -------------------


def break_conservation(conn: Connection, world: World) -> None:
    # A cent appears from nowhere: an entry grows and its account's balance follows.
    entry = one(conn, "SELECT max(id) FROM entries WHERE amount > 0")
    conn.execute(text("UPDATE entries SET amount = amount + 1 WHERE id = :e"), {"e": entry})
    conn.execute(
        text(
            "UPDATE accounts SET balance = balance + 1 "
            "WHERE id = (SELECT account_id FROM entries WHERE id = :e)"
        ),
        {"e": entry},
    )


def break_balance(conn: Connection, world: World) -> None:
    conn.execute(
        text("UPDATE accounts SET balance = balance + 12345 WHERE id = :a"),
        {"a": world.account_id("acme-payroll")},
    )


def break_overdraft(conn: Connection, world: World) -> None:
    # The USD account is overdrawn within its 100.00 limit; the limit is then set to zero in
    # place, behind the service's back (which refuses to lower it below the balance).
    conn.execute(
        text("UPDATE accounts SET overdraft_limit = 0 WHERE id = :a"),
        {"a": world.account_id("acme-usd")},
    )


def drop_an_entry(conn: Connection, world: World) -> None:
    # A transfer loses its credit entry; the credited account's balance is "fixed" to match.
    entry, account, amount = conn.execute(
        text("SELECT id, account_id, amount FROM entries WHERE amount > 0 ORDER BY id DESC")
    ).first()  # type: ignore[misc]
    conn.execute(text("DELETE FROM entries WHERE id = :e"), {"e": entry})
    conn.execute(
        text("UPDATE accounts SET balance = balance - :x WHERE id = :a"),
        {"a": account, "x": amount},
    )


def misdirect_an_entry(conn: Connection, world: World) -> None:
    # A credit lands on the wrong account (same currency): every sum still holds, but the
    # transfer no longer has its entries.
    entry, account, amount = conn.execute(
        text(
            "SELECT e.id, e.account_id, e.amount FROM entries e JOIN transfers t "
            "ON t.id = e.transfer_id WHERE t.kind = 'transfer' AND e.amount > 0 ORDER BY e.id"
        )
    ).first()  # type: ignore[misc]
    other = world.account_id("globex-main")
    conn.execute(text("UPDATE entries SET account_id = :o WHERE id = :e"), {"o": other, "e": entry})
    conn.execute(
        text("UPDATE accounts SET balance = balance - :x WHERE id = :a"),
        {"a": account, "x": amount},
    )
    conn.execute(
        text("UPDATE accounts SET balance = balance + :x WHERE id = :o"), {"o": other, "x": amount}
    )


def drift_grant_spend(conn: Connection, world: World) -> None:
    conn.execute(
        text("UPDATE grant_spend SET amount = amount - 1 WHERE grant_id = :g"),
        {"g": world.grants["acme-payer"].id},
    )


def drift_person_spend(conn: Connection, world: World) -> None:
    conn.execute(
        text("UPDATE person_spend SET amount = amount + 1 WHERE user_id = :u"),
        {"u": world.user_id("acme-payer")},
    )


def exceed_tenant_cap_across_grants(conn: Connection, world: World) -> None:
    # The payer's 75.00 on the 26th (Berlin) went through a second grant: neither grant
    # passed the company's 300.00 daily cap, but the person, with 325.00, did.
    grant = world.grants["acme-payer"]
    second = one(
        conn,
        "INSERT INTO grants (user_id, role_id, bank_id, tenant_id, all_accounts, created_at, "
        "updated_at) SELECT user_id, role_id, bank_id, tenant_id, all_accounts, created_at, "
        "updated_at FROM grants WHERE id = :g RETURNING id",
        g=grant.id,
    )
    moved = {"g": grant.id, "s": second, "d": dt.date(2026, 11, 26)}
    conn.execute(
        text("UPDATE transfers SET grant_id = :s WHERE grant_id = :g AND amount = 7500"), moved
    )
    conn.execute(
        text("UPDATE grant_spend SET amount = amount - 7500 WHERE grant_id = :g AND day = :d"),
        moved,
    )
    conn.execute(
        text(
            "INSERT INTO grant_spend (grant_id, currency, day, amount) VALUES (:s, 'EUR', :d, 7500)"
        ),
        moved,
    )
    conn.execute(
        text(
            "INSERT INTO limit_caps (bank_id, tenant_id, currency, daily_limit, updated_at) "
            "VALUES (:b, :t, 'EUR', 30000, :at)"
        ),
        {"b": world.bank.id, "t": world.tenants["acme"].id, "at": dt.datetime(2026, 1, 1)},
    )


def exceed_daily_limit(conn: Connection, world: World) -> None:
    # The payer's grant had a daily limit of 300.00 EUR since before the day began; 325.00
    # were sent under it on the 26th (Berlin).
    conn.execute(
        text(
            "UPDATE grants SET limit_currency = 'EUR', daily_limit = 30000, updated_at = :t "
            "WHERE id = :g"
        ),
        {"g": world.grants["acme-payer"].id, "t": dt.datetime(2026, 1, 1)},
    )


def exceed_tenant_cap(conn: Connection, world: World) -> None:
    conn.execute(
        text(
            "INSERT INTO limit_caps (bank_id, tenant_id, currency, daily_limit, updated_at) "
            "VALUES (:b, :t, 'EUR', 20000, :at)"
        ),
        {"b": world.bank.id, "t": world.tenants["acme"].id, "at": dt.datetime(2026, 1, 1)},
    )


def exceed_monthly_limit(conn: Connection, world: World) -> None:
    conn.execute(
        text(
            "UPDATE grants SET limit_currency = 'EUR', monthly_limit = 40000, updated_at = :t "
            "WHERE id = :g"
        ),
        {"g": world.grants["acme-payer"].id, "t": dt.datetime(2026, 1, 1)},
    )


CORRUPTIONS: dict[str, tuple[Callable[[Connection, World], None], set[str]]] = {
    "conservation": (break_conservation, {"conservation", "transfers"}),
    "balance": (break_balance, {"balances"}),
    "overdraft": (break_overdraft, {"overdraft"}),
    "missing entry": (drop_an_entry, {"conservation", "transfers"}),
    "misdirected entry": (misdirect_an_entry, {"transfers"}),
    "grant spend": (drift_grant_spend, {"spend"}),
    "person spend": (drift_person_spend, {"spend"}),
    "tenant cap across grants": (exceed_tenant_cap_across_grants, {"limits"}),
    "daily limit": (exceed_daily_limit, {"limits"}),
    "tenant cap": (exceed_tenant_cap, {"limits"}),
    "monthly limit": (exceed_monthly_limit, {"limits"}),
}


def run(db: Database, **options: object) -> LedgerReport:
    return check_database(db, batch_size=2, **options)  # type: ignore[arg-type]


def test_a_healthy_ledger_passes_every_check(db, world, clock):
    post_activity(db, world, clock)
    report = run(db)
    assert report.ok, report.render()
    assert [r.name for r in report.results] == list(CHECKS)
    assert report.result("transfers").examined == 4 + 6  # the world's deposits, and ours
    # The payer's transfers fall on two Berlin days (the 25th and the 26th).
    assert report.result("spend").examined >= 2
    assert report.result("spend").warnings == 0


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupted_copy_fails_the_checks_that_guard_it(db, world, clock, corruption):
    post_activity(db, world, clock)
    corrupt, expected = CORRUPTIONS[corruption]
    with database_copy(db) as copy:
        with copy.engine.begin() as conn:
            unlock(conn)
            corrupt(conn, world)
        report = run(copy)
    assert set(report.failed) == expected, report.render()
    for name in expected:
        assert report.result(name).examples, report.render()
    # The original was never touched.
    assert run(db).ok


def test_a_limit_lowered_after_the_spending_is_a_warning_not_a_failure(db, world, clock):
    post_activity(db, world, clock)
    with database_copy(db) as copy:
        with copy.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE grants SET limit_currency = 'EUR', daily_limit = 100, "
                    "updated_at = :t WHERE id = :g"
                ),
                {"g": world.grants["acme-payer"].id, "t": dt.datetime(2026, 12, 1)},
            )
        report = run(copy)
    assert report.ok, report.render()
    assert report.result("limits").warnings == 2
    assert "changed after the last transfer" in report.render()


def test_the_command_exits_non_zero_and_says_what_is_wrong(db, world, clock):
    post_activity(db, world, clock)
    runner = CliRunner()
    url = db.url
    db.dispose()
    healthy = runner.invoke(cli, ["ledger", "check", "--database-url", url, "--no-progress"])
    assert healthy.exit_code == 0, healthy.output
    assert "ledger check passed" in healthy.output
    with database_copy(db) as copy:
        with copy.engine.begin() as conn:
            break_balance(conn, world)
        copy_url = copy.url
        copy.dispose()
        broken = runner.invoke(
            cli, ["ledger", "check", "--database-url", copy_url, "--progress", "-c", "balances"]
        )
    assert broken.exit_code == 1, broken.output
    assert "FAIL  balances" in broken.output
    assert f"account {world.account_id('acme-payroll')}: balance" in broken.output
    assert "ledger check FAILED: 1 of 1 checks (balances)" in broken.output
    unknown = runner.invoke(cli, ["ledger", "check", "--database-url", url, "-c", "nonsense"])
    assert unknown.exit_code == 1
