"""`mandate ledger check`: a healthy ledger passes every check, and a copy corrupted on purpose
fails exactly the checks that guard what was broken. The ledger holds payments under dual
control in every state (sent at once, posted days after it was made, still awaiting approval,
rejected, cancelled, expired), so the checks must count them the way the payments do."""

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
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.ledger import service as ledger
from core.ledger.check import CHECKS, LedgerReport, check_database
from core.ledger.schemas import AccountUpdate, DepositCreate, TransferCreate
from core.payments import service as payments
from core.payments.schemas import PaymentCreate, PaymentEnd
from tests.factories import PASSWORD, World, new_key, staff_context, unit_of_work
from tests.payments_world import PaymentsWorld, build_payments_world

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


def add_treasurer(db: Database, passwords: Passwords, world: World, clock) -> None:  # type: ignore[no-untyped-def]
    """A second payer of Acme, who makes the payments: the limits cases below stay about
    acme-payer's transfers alone."""
    acme = world.tenants["acme"]

    def build(session, _ctx):  # type: ignore[no-untyped-def]
        user = iam.create_user(
            session,
            passwords,
            bank_id=world.bank.id,  # type: ignore[arg-type]
            tenant_id=acme.id,
            username="acme-treasurer",
            display_name="Acme Treasurer",
            password=PASSWORD,
            now=clock.now(),
        )
        role = iam.builtin_role(session, "payer", bank_id=world.bank.id, tenant_id=acme.id)  # type: ignore[arg-type]
        world.grants["acme-treasurer"] = iam.grant_role(session, user, role, now=clock.now())
        world.users["acme-treasurer"] = user

    unit_of_work(db, clock).run(build)


def post_payments(db: Database, pw: PaymentsWorld, clock) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Payments of every fate, all made on the 26th in Berlin, one posted on the 28th: the
    limits counted each on the 26th, and gave back those that ended without moving money."""
    treasurer = staff_context(db, "acme-treasurer", clock)
    approver_a = staff_context(db, "acme-approver-a", clock)
    approver_b = staff_context(db, "acme-approver-b", clock)
    operating = pw.world.account_id("acme-operating")

    def pay(amount: int, payee: str) -> int:
        body = PaymentCreate(
            account_id=operating,
            beneficiary_id=pw.beneficiary_id(payee),
            amount=amount,
            currency="EUR",
            reference=f"{payee} {amount}",
        )
        made = db.run(
            lambda s: payments.create_payment(s, _fresh(treasurer, clock), body, new_key())
        )
        return made.payment.id

    def approve(ctx: RequestContext, payment_id: int) -> str:
        done = db.run(
            lambda s: payments.approve_payment(s, _fresh(ctx, clock), payment_id, new_key())
        )
        return done.payment.status

    clock.at = dt.datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 09:00 on the 26th in Berlin
    ids = {
        "sent": pay(500_00, "supplier"),  # below every tier: sent at once
        "expired": pay(30_000_00, "globex"),  # one approval, never given
        "posted": pay(150_000_00, "payroll"),  # two approvals, one from group A
        "rejected": pay(20_000_00, "supplier"),
        "cancelled": pay(15_000_00, "globex"),
    }
    end = PaymentEnd(reason="not this month")
    db.run(lambda s: payments.reject_payment(s, _fresh(approver_a, clock), ids["rejected"], end))
    db.run(lambda s: payments.cancel_payment(s, _fresh(treasurer, clock), ids["cancelled"], end))
    clock.at = dt.datetime(2026, 11, 26, 21, 0, tzinfo=UTC)  # 22:00 on the 26th in Berlin
    ids["pending"] = pay(12_000_00, "globex")
    clock.at = dt.datetime(2026, 11, 28, 10, 0, tzinfo=UTC)  # the approvals come later
    assert approve(approver_b, ids["posted"]) == "pending_approval"
    assert approve(approver_a, ids["posted"]) == "posted"
    # Seven days after it was made the first waiting payment lapses; the later one waits on.
    clock.at = dt.datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert db.run(lambda s: payments.expire_payments(s, RequestContext(actor=None, clock=clock)))
    return ids


@pytest.fixture
def activity(app, db, world, clock) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The world's transfers (post_activity) and payments (post_payments): the payments'
    ids by their fate."""
    passwords = app.state.services.passwords
    post_activity(db, world, clock)
    add_treasurer(db, passwords, world, clock)
    return post_payments(db, build_payments_world(db, passwords, world, clock), clock)


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


def drift_a_hold(conn: Connection, world: World) -> None:
    # A hold grows with no payment behind it (or one that ended kept its hold).
    conn.execute(
        text("UPDATE accounts SET held = held + 100 WHERE id = :a"),
        {"a": world.account_id("acme-operating")},
    )


def hold_past_the_overdraft_limit(conn: Connection, world: World) -> None:
    # The waiting payment is accepted for more than the account has: its hold (and what its
    # limits counted) grows with it, so every total agrees, but the balance less the holds is
    # past the floor, though the balance alone is not.
    payment, account, old, grant, person, day = conn.execute(
        text(
            "SELECT id, account_id, amount, grant_id, initiated_by_id, spend_day FROM payments "
            "WHERE status = 'pending_approval'"
        )
    ).one()
    balance, held, limit = conn.execute(
        text("SELECT balance, held, overdraft_limit FROM accounts WHERE id = :a"), {"a": account}
    ).one()
    grown = balance - (held - old) + limit + 1_00
    change = {"p": payment, "a": account, "x": grown - old, "g": grant, "u": person, "d": day}
    conn.execute(text("UPDATE payments SET amount = amount + :x WHERE id = :p"), change)
    conn.execute(text("UPDATE accounts SET held = held + :x WHERE id = :a"), change)
    conn.execute(
        text("UPDATE grant_spend SET amount = amount + :x WHERE grant_id = :g AND day = :d"),
        change,
    )
    conn.execute(
        text("UPDATE person_spend SET amount = amount + :x WHERE user_id = :u AND day = :d"),
        change,
    )


def misdirect_a_payment(conn: Connection, world: World) -> None:
    # The posted payment says it went to another account than its transfer credited.
    conn.execute(
        text("UPDATE payments SET credit_account_id = :o WHERE status = 'posted'"),
        {"o": world.account_id("globex-main")},
    )


def post_a_payment_twice(conn: Connection, world: World) -> None:
    # The posted payment's money moves a second time: a balanced transfer of kind payment,
    # its entries and balances all in order, that no payment names.
    posted = one(conn, "SELECT transfer_id FROM payments WHERE status = 'posted'")
    columns = (
        "bank_id, tenant_id, kind, debit_account_id, credit_account_id, amount, currency, "
        "description, initiated_by_id, grant_id, created_at"
    )
    again = one(
        conn,
        f"INSERT INTO transfers ({columns}) SELECT {columns} FROM transfers WHERE id = :t "
        "RETURNING id",
        t=posted,
    )
    conn.execute(
        text(
            "INSERT INTO entries (transfer_id, account_id, amount, currency, balance_after, "
            "created_at) SELECT :n, account_id, amount, currency, balance_after, created_at "
            "FROM entries WHERE transfer_id = :t"
        ),
        {"n": again, "t": posted},
    )
    for account, amount in conn.execute(
        text("SELECT account_id, amount FROM entries WHERE transfer_id = :t"), {"t": posted}
    ).all():
        conn.execute(
            text("UPDATE accounts SET balance = balance + :x WHERE id = :a"),
            {"a": account, "x": amount},
        )


def count_a_payment_on_its_posting_day(conn: Connection, world: World) -> None:
    # The running totals count the posted payment on the day its last approval posted it
    # (the 28th), not the day it was made and its limits counted it (the 26th).
    grant, person, amount, day = conn.execute(
        text(
            "SELECT grant_id, initiated_by_id, amount, spend_day FROM payments "
            "WHERE status = 'posted'"
        )
    ).one()
    moved = {"g": grant, "u": person, "x": amount, "d": day, "p": dt.date(2026, 11, 28)}
    for table, holder in (("grant_spend", "grant_id = :g"), ("person_spend", "user_id = :u")):
        conn.execute(
            text(f"UPDATE {table} SET amount = amount - :x WHERE {holder} AND day = :d"), moved
        )
        key = "grant_id" if table == "grant_spend" else "user_id"
        value = ":g" if table == "grant_spend" else ":u"
        conn.execute(
            text(
                f"INSERT INTO {table} ({key}, currency, day, amount) "
                f"VALUES ({value}, 'EUR', :p, :x)"
            ),
            moved,
        )


def break_an_iban(conn: Connection, world: World) -> None:
    # A digit of the IBAN mistyped: its check digits no longer hold.
    conn.execute(
        text("UPDATE accounts SET iban = 'DE00' || substr(iban, 5) WHERE id = :a"),
        {"a": world.account_id("acme-payroll")},
    )


def lose_an_iban(conn: Connection, world: World) -> None:
    conn.execute(
        text("UPDATE accounts SET iban = NULL WHERE id = :a"),
        {"a": world.account_id("globex-main")},
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
    "hold": (drift_a_hold, {"holds"}),
    "hold past the overdraft limit": (hold_past_the_overdraft_limit, {"overdraft"}),
    "misdirected payment": (misdirect_a_payment, {"payments"}),
    "payment posted twice": (post_a_payment_twice, {"payments"}),
    "payment counted on its posting day": (count_a_payment_on_its_posting_day, {"spend"}),
    "invalid iban": (break_an_iban, {"ibans"}),
    "missing iban": (lose_an_iban, {"ibans"}),
}
# What the report must name, where the failed check alone would not prove the case: the
# payer's own total across two grants (the treasurer passes the cap too, on their own).
MENTIONED: dict[str, Callable[[World], str]] = {
    "tenant cap across grants": lambda world: (
        f"person {world.user_id('acme-payer')} daily 2026-11-26: spent 325.00 EUR"
    ),
    "hold past the overdraft limit": lambda world: (
        f"account {world.account_id('acme-operating')}: balance"
    ),
    "payment posted twice": lambda world: "of kind payment",
}


def run(db: Database, **options: object) -> LedgerReport:
    return check_database(db, batch_size=2, **options)  # type: ignore[arg-type]


def test_a_healthy_ledger_passes_every_check(db, world, clock, activity):
    report = run(db)
    assert report.ok, report.render()
    assert [r.name for r in report.results] == list(CHECKS)
    # The world's deposits, our transfers, and the two payments whose money moved.
    assert report.result("transfers").examined == 4 + 6 + 2
    assert report.result("payments").examined == len(activity)
    assert report.result("payments").note == "transfers of kind payment: 2"
    assert report.result("holds").examined == 4 + 2  # customer accounts, EUR and USD clearing
    assert report.result("ibans").examined == 4
    # The payer's transfers fall on two Berlin days (the 25th and the 26th); the
    # treasurer's payments on one, the 26th, though one of them was posted on the 28th.
    assert report.result("spend").examined >= 2 + 2
    assert report.result("spend").warnings == 0


def test_payments_count_on_the_day_they_were_made_while_they_count_at_all(db, world, activity):
    # What the spend check holds the running totals to, seen from the totals: the
    # treasurer's 26th is the payment sent, the one posted on the 28th and the one waiting.
    with db.engine.connect() as conn:
        days = conn.execute(
            text("SELECT day, amount FROM grant_spend WHERE grant_id = :g ORDER BY day"),
            {"g": world.grants["acme-treasurer"].id},
        ).all()
        held = one(
            conn, "SELECT held FROM accounts WHERE id = :a", a=world.account_id("acme-operating")
        )
    assert [(str(day), amount) for day, amount in days] == [
        ("2026-11-26", 500_00 + 150_000_00 + 12_000_00)
    ]
    assert held == 12_000_00


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupted_copy_fails_the_checks_that_guard_it(db, world, clock, activity, corruption):
    corrupt, expected = CORRUPTIONS[corruption]
    with database_copy(db) as copy:
        with copy.engine.begin() as conn:
            unlock(conn)
            corrupt(conn, world)
        report = run(copy)
    assert set(report.failed) == expected, report.render()
    for name in expected:
        assert report.result(name).examples, report.render()
    if corruption in MENTIONED:
        assert MENTIONED[corruption](world) in report.render(), report.render()
    # The original was never touched.
    assert run(db).ok


def test_a_limit_lowered_after_the_spending_is_a_warning_not_a_failure(db, world, clock, activity):
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


def test_the_command_exits_non_zero_and_says_what_is_wrong(db, world, clock, activity):
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
