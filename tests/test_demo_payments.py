"""The demo bank can walk a payment under dual control, as the README's recipe does: the
payer's limits and the company's caps let 150,000.00 EUR through, Acme's panel asks two
approvals with one from group A, and the two demo approvers give them. The beneficiaries are
the beneficiaries branch's to seed: this test adds its own."""

from __future__ import annotations

from sqlalchemy import select

from core import demo
from core.models.ledger import Account
from core.models.payments import Beneficiary
from tests.factories import new_key


def _sign_in(client, username: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    answer = client.post(
        "/v1/auth/token", data={"username": username, "password": demo.DEMO_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _seeded(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The demo's paying account and its two payees, by name (core.demo seeds them)."""
    with db.unit_of_work() as session:
        accounts = {a.name: a for a in session.scalars(select(Account))}
        payees = {b.name: b.id for b in session.scalars(select(Beneficiary))}
        return {**payees, "account": accounts["Acme Operating"].id}  # type: ignore[dict-item]


def test_the_demo_walks_a_payment_through_both_approvers(db, app, clock, client):
    with db.unit_of_work() as session:
        assert demo.seed(session, app.state.services.passwords, clock)
    ids = _seeded(db)
    payer = _sign_in(client, "acme-payer")
    body = {
        "account_id": ids["account"],
        "beneficiary_id": ids["Globex Main"],
        "amount": 150_000_00,
        "currency": "EUR",
        "reference": "Invoice 2026-118",
    }
    made = client.post("/v1/payments", json=body, headers={**payer, "Idempotency-Key": new_key()})
    assert made.status_code == 202, made.text
    payment = made.json()
    assert payment["status"] == "pending_approval"
    assert payment["required"]["text"] == "2 more approvals, 1 of them from group A"

    for approver, status, code in (
        ("acme-approver-b", "pending_approval", 202),
        ("acme-approver-a", "posted", 201),
    ):
        answer = client.post(
            f"/v1/payments/{payment['id']}/approve",
            headers={**_sign_in(client, approver), "Idempotency-Key": new_key()},
        )
        assert answer.status_code == code, answer.text
        assert answer.json()["status"] == status
    posted = client.get(f"/v1/payments/{payment['id']}", headers=payer).json()
    assert posted["status"] == "posted" and posted["transfer_id"] is not None

    # The bank's minimum: 60,000.00 EUR to another bank needs two approvals, where Acme's own
    # rules would ask one.
    preview = client.post(
        "/v1/payment-previews",
        json={**body, "beneficiary_id": ids["Lieferant GmbH"], "amount": 60_000_00},
        headers=payer,
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["outcome"] == "pending_approval"
    assert preview.json()["required"]["approvals"] == 2
