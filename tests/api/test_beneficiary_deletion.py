"""Deleting a beneficiary: nothing more is paid to it. Its payments whose money has not moved
(waiting for approval, or scheduled) end cancelled, "beneficiary deleted", in the same
transaction: holds released, available restored, the amounts given back to the payer's
limits, and the payer told. An approval after the deletion is refused; a payment that
somehow still waits (made at the instant of the deletion) is never posted to it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from core.models.iam import PersonSpend
from core.models.payments import Beneficiary
from core.payments import service as payments
from tests.batches_world import with_pending_batch
from tests.factories import bearer, new_key, unit_of_work
from tests.payments_checks import assert_payments_consistent
from tests.payments_world import PaymentsWorld, build_payments_world

BERLIN = ZoneInfo("Europe/Berlin")
BRAND_NEW_IBAN = "FI2112345600000785"


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _as(app, pw, clock, who: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(app, pw.world.users[who], clock)


def _brand_new(client, app, pw, clock) -> int:  # type: ignore[no-untyped-def]
    added = client.post(
        "/v1/beneficiaries",
        json={"name": "Brand New", "iban": BRAND_NEW_IBAN},
        headers=_as(app, pw, clock, "acme-admin"),
    )
    assert added.status_code == 201, added.text
    return int(added.json()["id"])


def _pay(client, app, pw, clock, beneficiary_id: int, amount: int, on: dt.date | None = None):  # type: ignore[no-untyped-def]
    made = client.post(
        "/v1/payments",
        json={
            "account_id": pw.world.account_id("acme-operating"),
            "beneficiary_id": beneficiary_id,
            "amount": amount,
            "currency": "EUR",
            "execution_date": on.isoformat() if on else None,
        },
        headers={**_as(app, pw, clock, "acme-payer"), "Idempotency-Key": new_key()},
    )
    assert made.status_code == 202, made.text
    return made.json()


def _account(client, app, pw, clock) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return client.get(  # type: ignore[no-any-return]
        f"/v1/accounts/{pw.world.account_id('acme-operating')}",
        headers=_as(app, pw, clock, "acme-payer"),
    ).json()


def _spent(db, pw: PaymentsWorld) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        rows = session.scalars(
            select(PersonSpend).where(PersonSpend.user_id == pw.world.user_id("acme-payer"))
        )
        return sum(row.amount for row in rows)


def _delete(client, app, pw, clock, beneficiary_id: int) -> None:  # type: ignore[no-untyped-def]
    deleted = client.delete(
        f"/v1/beneficiaries/{beneficiary_id}", headers=_as(app, pw, clock, "acme-admin")
    )
    assert deleted.status_code == 204, deleted.text


def _approve(client, app, pw, clock, payment_id: int):  # type: ignore[no-untyped-def]
    return client.post(
        f"/v1/payments/{payment_id}/approve",
        headers={**_as(app, pw, clock, "acme-approver-a"), "Idempotency-Key": new_key()},
    )


def _consistent(db) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        assert_payments_consistent(session)


def test_deleting_a_beneficiary_cancels_its_waiting_payment_and_gives_everything_back(
    client, app, db, pw, clock
):
    before = _account(client, app, pw, clock)
    beneficiary_id = _brand_new(client, app, pw, clock)
    # A new beneficiary: any payment to it needs an approval.
    payment = _pay(client, app, pw, clock, beneficiary_id, 500_00)
    assert payment["status"] == "pending_approval"
    held = _account(client, app, pw, clock)
    assert (held["held"], held["available"]) == (500_00, before["available"] - 500_00)
    assert _spent(db, pw) == 500_00
    _delete(client, app, pw, clock, beneficiary_id)
    shown = client.get(
        f"/v1/payments/{payment['id']}", headers=_as(app, pw, clock, "acme-payer")
    ).json()
    assert (shown["status"], shown["end_reason"]) == ("cancelled", "beneficiary deleted")
    assert shown["ended_by"] == pw.world.user_id("acme-admin")
    after = _account(client, app, pw, clock)
    assert (after["balance"], after["held"], after["available"]) == (
        before["balance"],
        0,
        before["available"],
    )
    assert _spent(db, pw) == 0
    # An approval after the deletion is refused: nothing moves.
    refused = _approve(client, app, pw, clock, payment["id"])
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "payment_not_pending"
    assert _account(client, app, pw, clock) == after
    # Who prepared it is told, by whom and why.
    items = client.get("/v1/activity", headers=_as(app, pw, clock, "acme-payer")).json()["items"]
    [step] = [i for i in items if i["payment_id"] == payment["id"] and i["step"]]
    assert (step["action"], step["acted_by"]) == (
        "payment.cancelled",
        pw.world.user_id("acme-admin"),
    )
    assert step["detail"] == (
        f"your payment {payment['id']} of 500.00 EUR to Brand New is cancelled: beneficiary "
        "deleted; its hold is released"
    )
    _consistent(db)


def test_a_scheduled_payment_to_it_is_cancelled_too_and_never_executes(client, app, db, pw, clock):
    before = _account(client, app, pw, clock)
    # Thirty days old, so no approval is needed: 500.00 EUR dated in three days is scheduled.
    supplier = pw.beneficiary_id("globex")
    on = clock.now().astimezone(BERLIN).date() + dt.timedelta(days=3)
    scheduled = _pay(client, app, pw, clock, supplier, 500_00, on)
    assert scheduled["status"] == "scheduled"
    waiting = _pay(client, app, pw, clock, supplier, 20_000_00)
    assert waiting["status"] == "pending_approval"
    _delete(client, app, pw, clock, supplier)
    payer = _as(app, pw, clock, "acme-payer")
    for payment in (scheduled, waiting):
        shown = client.get(f"/v1/payments/{payment['id']}", headers=payer).json()
        assert (shown["status"], shown["end_reason"]) == ("cancelled", "beneficiary deleted")
    assert _account(client, app, pw, clock)["held"] == 0
    assert _spent(db, pw) == 0
    clock.at = clock.now() + dt.timedelta(days=3)
    assert unit_of_work(db, clock).run(payments.run_payments).executed == 0
    after = _account(client, app, pw, clock)
    assert (after["balance"], after["available"]) == (before["balance"], before["available"])
    _consistent(db)


def _delete_behind_its_back(db, beneficiary_id: int, clock) -> None:  # type: ignore[no-untyped-def]
    """Mark the beneficiary deleted without ending its payments: a payment made at the very
    instant of the deletion (or before this fix) still waits for it."""
    with db.unit_of_work() as session:
        session.execute(
            update(Beneficiary)
            .where(Beneficiary.id == beneficiary_id)
            .values(deleted_at=clock.now())
        )


def test_a_payment_still_waiting_for_a_deleted_beneficiary_is_never_approved(
    client, app, db, pw, clock
):
    beneficiary_id = _brand_new(client, app, pw, clock)
    payment = _pay(client, app, pw, clock, beneficiary_id, 500_00)
    _delete_behind_its_back(db, beneficiary_id, clock)
    refused = _approve(client, app, pw, clock, payment["id"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "beneficiary_deleted"
    shown = client.get(
        f"/v1/payments/{payment['id']}", headers=_as(app, pw, clock, "acme-payer")
    ).json()
    assert shown["status"] == "pending_approval" and shown["approvals"] == []
    # It can still be ended by hand, its hold released.
    cancelled = client.post(
        f"/v1/payments/{payment['id']}/cancel", json={}, headers=_as(app, pw, clock, "acme-payer")
    )
    assert cancelled.status_code == 200, cancelled.text
    assert _account(client, app, pw, clock)["held"] == 0
    _consistent(db)


def test_a_scheduled_payment_to_a_deleted_beneficiary_ends_cancelled_on_its_day(
    client, app, db, pw, clock
):
    before = _account(client, app, pw, clock)
    supplier = pw.beneficiary_id("globex")
    on = clock.now().astimezone(BERLIN).date() + dt.timedelta(days=1)
    scheduled = _pay(client, app, pw, clock, supplier, 500_00, on)
    _delete_behind_its_back(db, supplier, clock)
    clock.at = clock.now() + dt.timedelta(days=1)
    settled = unit_of_work(db, clock).run(payments.run_payments)
    assert settled.executed == 0
    shown = client.get(
        f"/v1/payments/{scheduled['id']}", headers=_as(app, pw, clock, "acme-payer")
    ).json()
    assert (shown["status"], shown["end_reason"]) == ("cancelled", "beneficiary deleted")
    after = _account(client, app, pw, clock)
    assert (after["balance"], after["held"]) == (before["balance"], 0)
    assert _spent(db, pw) == 0
    _consistent(db)


def test_a_batch_paying_a_deleted_beneficiary_is_never_approved_and_can_be_rejected(
    client, app, db, pw, clock
):
    """A batch waiting for approval pays a beneficiary deleted since: its approval is 409
    beneficiary_deleted and nothing moves (the whole batch: it is approved as one); its
    rejection gives its hold and limits back."""
    with_pending_batch(db, app.state.services.passwords, pw.world, clock, pw)
    batch_id = pw.world.batch_ids["acme"]
    before, spent = _account(client, app, pw, clock), _spent(db, pw)
    _delete(client, app, pw, clock, pw.world.beneficiary_id("acme-supplier"))
    approver = {**_as(app, pw, clock, "acme-approver-a"), "Idempotency-Key": new_key()}
    refused = client.post(f"/v1/payment-batches/{batch_id}/approve", headers=approver)
    assert refused.status_code == 409 and refused.json()["error"] == "beneficiary_deleted"
    assert _account(client, app, pw, clock) == before
    assert client.get(f"/v1/payment-batches/{batch_id}", headers=approver).json()["status"] == (
        "pending_approval"
    )
    rejected = client.post(
        f"/v1/payment-batches/{batch_id}/reject",
        json={"reason": "the supplier was deleted"},
        headers=_as(app, pw, clock, "acme-approver-a"),
    )
    assert rejected.status_code == 200, rejected.text
    after = _account(client, app, pw, clock)
    assert after["balance"] == before["balance"]
    assert after["available"] == before["available"] + 20_000_00
    assert _spent(db, pw) == spent - 20_000_00
    _consistent(db)
