"""Payments and approvals happen exactly once per Idempotency-Key (Stripe's semantics, as for
transfers): the same key and body again answer the stored response, marked
Idempotent-Replayed, with its status (201 moved, 202 waiting); the same key for another
request is 422 idempotency_key_reused; a refused request stored nothing and may be sent
again with its key."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.models.payments import Payment, PaymentApproval
from tests.factories import bearer, new_key
from tests.payments_world import PaymentsWorld, build_payments_world


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _body(pw: PaymentsWorld, amount: int, account: str = "acme-operating") -> dict:  # type: ignore[type-arg]
    return {
        "account_id": pw.world.account_id(account),
        "beneficiary_id": pw.beneficiary_id("supplier"),
        "amount": amount,
        "currency": "EUR",
        "reference": "Invoice 7",
    }


def _count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _balance(client, headers, account_id: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    account = client.get(f"/v1/accounts/{account_id}", headers=headers).json()
    return account["balance"], account["held"]


@pytest.mark.parametrize(("amount", "status"), [(500_00, 201), (20_000_00, 202)])
def test_the_same_key_twice_makes_one_payment_and_replays_the_answer(
    client, app, pw, db, clock, amount, status
):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    headers = {**payer, "Idempotency-Key": new_key()}
    first = client.post("/v1/payments", json=_body(pw, amount), headers=headers)
    assert first.status_code == status, first.text
    assert "Idempotent-Replayed" not in first.headers
    after_first = _balance(client, payer, pw.world.account_id("acme-operating"))
    second = client.post("/v1/payments", json=_body(pw, amount), headers=headers)
    assert second.status_code == status, second.text
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert _count(db, Payment) == 1
    assert _balance(client, payer, pw.world.account_id("acme-operating")) == after_first


def test_the_same_key_with_another_body_is_refused(client, app, pw, db, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    headers = {**payer, "Idempotency-Key": new_key()}
    made = client.post("/v1/payments", json=_body(pw, 20_000_00), headers=headers)
    assert made.status_code == 202, made.text
    for changed in (
        _body(pw, 20_000_01),
        {**_body(pw, 20_000_00), "reference": "Invoice 8"},
        _body(pw, 20_000_00, "acme-payroll"),
    ):
        reused = client.post("/v1/payments", json=changed, headers=headers)
        assert reused.status_code == 422, reused.text
        assert reused.json()["error"] == "idempotency_key_reused"
    # Another person of the same company with the same key: not theirs to replay.
    signer = bearer(app, pw.world.users["acme-approver-a"], clock)
    theirs = client.post(
        f"/v1/payments/{made.json()['id']}/approve",
        headers={**signer, "Idempotency-Key": headers["Idempotency-Key"]},
    )
    assert theirs.status_code == 422 and theirs.json()["error"] == "idempotency_key_reused"
    assert _count(db, Payment) == 1


def test_a_refused_payment_keeps_no_key(client, app, pw, db, clock):
    """Nothing is stored for a refusal: once the money is there, the same key pays."""
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    manager = bearer(app, pw.world.users["manager"], clock)
    headers = {**payer, "Idempotency-Key": new_key()}
    body = _body(pw, 150_000_00, "acme-payroll")  # payroll holds 100,000.00
    refused = client.post("/v1/payments", json=body, headers=headers)
    assert refused.status_code == 422 and refused.json()["error"] == "insufficient_funds"
    deposit = client.post(
        "/v1/deposits",
        json={"account_id": body["account_id"], "amount": 50_000_00, "currency": "EUR"},
        headers={**manager, "Idempotency-Key": new_key()},
    )
    assert deposit.status_code == 201, deposit.text
    made = client.post("/v1/payments", json=body, headers=headers)
    assert made.status_code == 202, made.text
    assert "Idempotent-Replayed" not in made.headers


def test_an_approval_happens_once_per_key(client, app, pw, db, clock):
    """A's approval replayed answers what it answered (202, waiting), even once B's approval
    has posted the payment; B's replayed answers 201; the payment moved once, each approval
    counted once."""
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    a = {**bearer(app, pw.world.users["acme-approver-a"], clock), "Idempotency-Key": new_key()}
    b = {**bearer(app, pw.world.users["acme-approver-b"], clock), "Idempotency-Key": new_key()}
    account_id = pw.world.account_id("acme-operating")
    before = _balance(client, payer, account_id)
    made = client.post(
        "/v1/payments",
        json=_body(pw, 150_000_00),
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert made.status_code == 202, made.text
    path = f"/v1/payments/{made.json()['id']}/approve"
    first_a = client.post(path, headers=a)
    assert first_a.status_code == 202, first_a.text
    again_a = client.post(path, headers=a)
    assert (again_a.status_code, again_a.headers.get("Idempotent-Replayed")) == (202, "true")
    assert again_a.json() == first_a.json()
    first_b = client.post(path, headers=b)
    assert first_b.status_code == 201 and first_b.json()["status"] == "sent", first_b.text
    for key, first in ((a, first_a), (b, first_b)):
        replayed = client.post(path, headers=key)
        assert replayed.status_code == first.status_code, replayed.text
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.json() == first.json()
    assert _count(db, PaymentApproval) == 2
    assert _balance(client, payer, account_id) == (before[0] - 150_000_00, 0)


def test_an_approval_key_used_for_another_payment_is_refused(client, app, pw, db, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    a = {**bearer(app, pw.world.users["acme-approver-a"], clock), "Idempotency-Key": new_key()}
    ids = [
        client.post(
            "/v1/payments",
            json=_body(pw, 150_000_00),
            headers={**payer, "Idempotency-Key": new_key()},
        ).json()["id"]
        for _ in range(2)
    ]
    assert client.post(f"/v1/payments/{ids[0]}/approve", headers=a).status_code == 202
    reused = client.post(f"/v1/payments/{ids[1]}/approve", headers=a)
    assert reused.status_code == 422 and reused.json()["error"] == "idempotency_key_reused"
    assert _count(db, PaymentApproval) == 1
    waiting = client.get(f"/v1/payments/{ids[1]}", headers=payer).json()
    assert waiting["approvals"] == [] and waiting["status"] == "pending_approval"
