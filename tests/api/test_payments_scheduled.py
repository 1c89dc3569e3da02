"""Future-dated payments: a payment may be dated today or up to EXECUTION_HORIZON_DAYS ahead
(the company's day); once its panel is satisfied it waits `scheduled`, its amount held and its
limits counted, and executes on its date exactly once (`run_payments`, or a GET on its way);
the initiator may cancel it until then; an account that cannot be debited on the day ends it
`failed`, released; a scheduled payment never expires."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from core.ledger.check import run_checks
from core.models.iam import PersonSpend
from core.models.ledger import Account, Transfer
from core.payments import service as payments
from core.payments.schemas import EXECUTION_HORIZON_DAYS
from tests.factories import bearer, new_key, unit_of_work
from tests.payments_checks import assert_payments_consistent
from tests.payments_world import PaymentsWorld, build_payments_world

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _today(clock) -> dt.date:  # type: ignore[no-untyped-def]
    return clock.now().astimezone(BERLIN).date()


def _pay(client, app, pw, clock, amount: int, on: dt.date | None, **extra):  # type: ignore[no-untyped-def]
    return client.post(
        "/v1/payments",
        json={
            "account_id": pw.world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id("supplier"),
            "amount": amount,
            "currency": "EUR",
            "execution_date": on.isoformat() if on else None,
            **extra,
        },
        headers={**bearer(app, pw.world.users["acme-payer"], clock), "Idempotency-Key": new_key()},
    )


def _account(client, app, pw, clock) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return client.get(  # type: ignore[no-any-return]
        f"/v1/accounts/{pw.world.account_id('acme-operating')}",
        headers=bearer(app, pw.world.users["acme-payer"], clock),
    ).json()


def _spent(db, pw: PaymentsWorld) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        rows = session.scalars(
            select(PersonSpend).where(PersonSpend.user_id == pw.world.user_id("acme-payer"))
        )
        return sum(row.amount for row in rows)


def _consistent(db) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        assert_payments_consistent(session)


@pytest.mark.parametrize(
    ("days", "why"),
    [(-1, "has passed"), (EXECUTION_HORIZON_DAYS + 1, f"at most {EXECUTION_HORIZON_DAYS} days")],
)
def test_a_date_past_or_beyond_the_horizon_is_refused_and_nothing_changes(
    client, app, db, pw, clock, days, why
):
    before = _account(client, app, pw, clock)
    refused = _pay(client, app, pw, clock, 500_00, _today(clock) + dt.timedelta(days=days))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "invalid_execution_date"
    assert why in refused.json()["detail"]
    assert _account(client, app, pw, clock) == before
    assert _spent(db, pw) == 0


def test_a_payment_needing_no_approval_dated_later_is_scheduled_and_executes_on_its_day(
    client, app, db, pw, clock
):
    balance = _account(client, app, pw, clock)["balance"]
    on = _today(clock) + dt.timedelta(days=EXECUTION_HORIZON_DAYS)  # the last day allowed
    made = _pay(client, app, pw, clock, 500_00, on)
    assert made.status_code == 202, made.text
    body = made.json()
    assert body["status"] == "scheduled"
    assert body["expires_at"] is None and body["transfer_id"] is None
    assert body["execution_date"] == on.isoformat()
    account = _account(client, app, pw, clock)
    assert (account["balance"], account["held"]) == (balance, 500_00)
    assert _spent(db, pw) == 500_00  # counted at initiation
    _consistent(db)
    # The day before its date: nothing runs, it stays scheduled (and never expires).
    clock.at = clock.now() + dt.timedelta(days=EXECUTION_HORIZON_DAYS - 1)
    assert unit_of_work(db, clock).run(payments.run_payments).executed == 0
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    assert client.get(f"/v1/payments/{body['id']}", headers=payer).json()["status"] == "scheduled"
    # Its day: the run executes it, once.
    clock.at = clock.now() + dt.timedelta(days=1)
    settled = unit_of_work(db, clock).run(payments.run_payments)
    assert (settled.executed, settled.failed) == (1, 0)
    assert unit_of_work(db, clock).run(payments.run_payments).executed == 0
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    shown = client.get(f"/v1/payments/{body['id']}", headers=payer).json()
    assert shown["status"] == "sent" and shown["transfer_id"] is not None
    account = _account(client, app, pw, clock)
    assert (account["balance"], account["held"]) == (balance - 500_00, 0)
    assert _spent(db, pw) == 500_00  # counted once, when it was made
    _consistent(db)


def test_a_get_on_its_day_executes_it_on_the_way(client, app, db, pw, clock):
    made = _pay(client, app, pw, clock, 700_00, _today(clock) + dt.timedelta(days=1))
    assert made.json()["status"] == "scheduled"
    clock.at = clock.now() + dt.timedelta(days=1)
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    shown = client.get(f"/v1/payments/{made.json()['id']}", headers=payer).json()
    assert shown["status"] == "sent"
    assert client.get(f"/v1/payments/{made.json()['id']}", headers=payer).json() == shown
    with db.unit_of_work(write=False) as session:
        assert len(list(session.scalars(select(Transfer).where(Transfer.kind == "payment")))) == 1
    _consistent(db)


def test_approved_for_a_later_day_it_is_scheduled_and_outlives_its_expiry(
    client, app, db, pw, clock
):
    on = _today(clock) + dt.timedelta(days=10)  # beyond the 7 days' expiry
    made = _pay(client, app, pw, clock, 20_000_00, on)
    assert made.status_code == 202 and made.json()["status"] == "pending_approval"
    payment_id = made.json()["id"]
    approver = {
        **bearer(app, pw.world.users["acme-approver-a"], clock),
        "Idempotency-Key": new_key(),
    }
    approved = client.post(f"/v1/payments/{payment_id}/approve", headers=approver)
    assert approved.status_code == 202, approved.text
    assert approved.json()["status"] == "scheduled"
    assert approved.json()["expires_at"] is None
    # A second approval is refused: it awaits no approval.
    other = {
        **bearer(app, pw.world.users["acme-approver-b"], clock),
        "Idempotency-Key": new_key(),
    }
    again = client.post(f"/v1/payments/{payment_id}/approve", headers=other)
    assert again.status_code == 403 and again.json()["error"] == "payment_not_pending"
    assert "scheduled" in again.json()["detail"]
    clock.at = clock.now() + dt.timedelta(days=8)
    settled = unit_of_work(db, clock).run(payments.run_payments)
    assert (settled.expired, settled.executed) == (0, 0)
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    assert client.get(f"/v1/payments/{payment_id}", headers=payer).json()["status"] == "scheduled"
    listed = client.get("/v1/payments?status=scheduled", headers=payer).json()["items"]
    assert [p["id"] for p in listed] == [payment_id]
    clock.at = clock.now() + dt.timedelta(days=2)
    assert unit_of_work(db, clock).run(payments.run_payments).executed == 1
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    assert client.get(f"/v1/payments/{payment_id}", headers=payer).json()["status"] == "sent"
    _consistent(db)


def test_the_initiator_cancels_a_scheduled_payment_and_gets_everything_back(
    client, app, db, pw, clock
):
    made = _pay(client, app, pw, clock, 900_00, _today(clock) + dt.timedelta(days=3))
    payment_id = made.json()["id"]
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    # An approver may not cancel it (payment.cancel is the admin's), nor reject it.
    approver = bearer(app, pw.world.users["acme-approver-a"], clock)
    rejected = client.post(
        f"/v1/payments/{payment_id}/reject", json={"reason": "no"}, headers=approver
    )
    assert rejected.status_code == 403 and rejected.json()["error"] == "payment_not_pending"
    cancelled = client.post(f"/v1/payments/{payment_id}/cancel", json={}, headers=payer)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert _account(client, app, pw, clock)["held"] == 0
    assert _spent(db, pw) == 0
    again = client.post(f"/v1/payments/{payment_id}/cancel", json={}, headers=payer)
    assert again.status_code == 403 and again.json()["error"] == "payment_not_pending"
    clock.at = clock.now() + dt.timedelta(days=3)
    assert unit_of_work(db, clock).run(payments.run_payments).executed == 0
    _consistent(db)


def test_an_admin_cancels_a_scheduled_payment(client, app, db, pw, clock):
    made = _pay(client, app, pw, clock, 900_00, _today(clock) + dt.timedelta(days=3))
    admin = bearer(app, pw.world.users["acme-admin"], clock)
    cancelled = client.post(f"/v1/payments/{made.json()['id']}/cancel", json={}, headers=admin)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["ended_by"] == pw.world.user_id("acme-admin")
    _consistent(db)


def test_a_frozen_account_on_the_day_fails_the_payment_and_releases_it(client, app, db, pw, clock):
    balance = _account(client, app, pw, clock)["balance"]
    made = _pay(client, app, pw, clock, 800_00, _today(clock) + dt.timedelta(days=1))
    with db.unit_of_work() as session:
        session.execute(
            update(Account)
            .where(Account.id == pw.world.account_id("acme-operating"))
            .values(status="frozen")
        )
    clock.at = clock.now() + dt.timedelta(days=1)
    settled = unit_of_work(db, clock).run(payments.run_payments)
    assert (settled.executed, settled.failed) == (0, 1)
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    shown = client.get(f"/v1/payments/{made.json()['id']}", headers=payer).json()
    assert shown["status"] == "failed" and shown["transfer_id"] is None
    assert "frozen" in shown["end_reason"]
    account = _account(client, app, pw, clock)
    assert (account["balance"], account["held"]) == (balance, 0)
    assert _spent(db, pw) == 0
    _consistent(db)


def test_the_ledger_check_counts_scheduled_holds(client, app, db, pw, clock):
    _pay(client, app, pw, clock, 600_00, _today(clock) + dt.timedelta(days=2))
    with db.unit_of_work(write=False) as session:
        report = run_checks(session.connection())
    assert report.ok, report.render()
