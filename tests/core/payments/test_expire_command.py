"""`mandate payments expire`: every payment still awaiting approval past its expiry ends
expired, its hold released and its amount given back to the limits it counted against; a
payment still in time waits on. The command runs on the system clock, so the payments are
made on a test clock set days before it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from typer.testing import CliRunner

from core.cli import app as cli
from core.clock import FixedClock
from core.context import RequestContext
from core.db import Database
from core.ledger.check import check_database
from core.models.iam import GrantSpend
from core.models.ledger import Account
from core.models.payments import Payment
from core.payments import service as payments
from core.payments.schemas import PaymentCreate
from core.settings import get_settings
from tests.factories import new_key, staff_context
from tests.payments_world import build_payments_world


def _pay(db: Database, account_id: int, beneficiary_id: int, amount: int, clock: FixedClock) -> int:
    payer = staff_context(db, "acme-payer", clock)
    body = PaymentCreate(
        account_id=account_id,
        beneficiary_id=beneficiary_id,
        amount=amount,
        currency="EUR",
    )
    made = db.run(
        lambda s: payments.create_payment(
            s, RequestContext(actor=payer.actor, clock=clock), body, new_key()
        )
    )
    assert made.payment.status == "pending_approval"
    return made.payment.id


def _expire(monkeypatch, db: Database) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MANDATE_DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["payments", "expire"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_the_command_expires_lapsed_payments_and_gives_their_money_back(
    app, db, world, monkeypatch
):
    now = dt.datetime.now(dt.UTC)
    clock = FixedClock(now - dt.timedelta(days=8))
    pw = build_payments_world(db, app.state.services.passwords, world, clock)
    operating, payroll = world.account_id("acme-operating"), world.account_id("acme-payroll")
    lapsed = _pay(db, operating, pw.beneficiary_id("supplier"), 20_000_00, clock)  # 7 days
    # From another account: a payment from the same one would expire the first on its way.
    clock.at = now - dt.timedelta(days=1)
    waiting = _pay(db, payroll, pw.beneficiary_id("globex"), 30_000_00, clock)

    assert _expire(monkeypatch, db) == "expired 1 payment awaiting approval"

    with db.unit_of_work(write=False) as session:
        ended, still = session.get(Payment, lapsed), session.get(Payment, waiting)
        assert ended is not None and still is not None
        assert (ended.status, ended.end_reason, ended.ended_by_id) == (
            "expired",
            "no approval in time",
            None,
        )
        assert ended.expires_at is not None and ended.expires_at <= now
        assert still.status == "pending_approval"
        held = {a.id: a.held for a in session.scalars(select(Account))}
        assert (held[operating], held[payroll]) == (0, 30_000_00)
        spent = dict(
            session.execute(
                select(GrantSpend.day, GrantSpend.amount).where(
                    GrantSpend.grant_id == world.grants["acme-payer"].id
                )
            ).all()
        )
        assert spent[ended.spend_day] == (30_000_00 if ended.spend_day == still.spend_day else 0)
    assert check_database(db).ok

    # Nothing more has lapsed: a second run changes nothing.
    assert _expire(monkeypatch, db) == "expired 0 payments awaiting approval"


def _run(monkeypatch, db: Database) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MANDATE_DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["payments", "run"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_payments_run_executes_what_is_due_and_expires_what_lapsed(app, db, world, monkeypatch):
    """`mandate payments run`: the scheduled payments whose day has come execute (once), one
    whose day is still ahead waits, and lapsed payments expire as with `expire`; `expire`
    alone executes nothing."""
    now = dt.datetime.now(dt.UTC)
    clock = FixedClock(now - dt.timedelta(days=8))
    pw = build_payments_world(db, app.state.services.passwords, world, clock)
    operating, payroll = world.account_id("acme-operating"), world.account_id("acme-payroll")
    lapsed = _pay(db, operating, pw.beneficiary_id("supplier"), 20_000_00, clock)
    payer = staff_context(db, "acme-payer", clock)

    def schedule(days_ahead: int) -> int:
        on = (clock.now() + dt.timedelta(days=days_ahead)).date()
        body = PaymentCreate(
            account_id=payroll,
            beneficiary_id=pw.beneficiary_id("supplier"),
            amount=300_00,
            currency="EUR",
            execution_date=on,
        )
        made = db.run(
            lambda s: payments.create_payment(
                s, RequestContext(actor=payer.actor, clock=clock), body, new_key()
            )
        )
        assert made.payment.status == "scheduled", made.payment
        return made.payment.id

    due, ahead = schedule(3), schedule(30)
    assert _expire(monkeypatch, db) == "expired 1 payment awaiting approval"
    with db.unit_of_work(write=False) as session:
        assert session.get(Payment, due).status == "scheduled"  # type: ignore[union-attr]
    assert _run(monkeypatch, db) == (
        "executed 1 scheduled payment, 0 failed; expired 0 awaiting approval"
    )
    with db.unit_of_work(write=False) as session:
        statuses = {i: session.get(Payment, i).status for i in (lapsed, due, ahead)}  # type: ignore[union-attr]
        assert statuses == {lapsed: "expired", due: "sent", ahead: "scheduled"}
        assert session.get(Account, payroll).held == 300_00  # type: ignore[union-attr]
    assert check_database(db).ok
    assert _run(monkeypatch, db).startswith("executed 0 scheduled payments")
