"""Step-up: where the company asks for it, approving a payment or a change request, adding a
beneficiary and moving money above its amount need a code from the person's authenticator
within its minutes. Without one the API answers 401 with an RFC 9470 challenge; after signing
in again with a code, the same request goes through. Explain and the decision log name it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.batches import service as batches
from core.context import RequestContext
from core.models.audit import DecisionRecord
from core.models.iam import actor_of
from core.models.payments import Payment
from core.payments.offers import payment_choices
from core.uow import UnitOfWork
from tests.batches_world import with_pending_batch
from tests.factories import PASSWORD, bearer, new_key
from tests.governance_world import with_change_request
from tests.payments_world import PaymentsWorld, with_pending_payment
from tests.second_factor_world import bearer_signed_in, code, with_authenticator, with_step_up

CHALLENGE = 'Bearer error="insufficient_user_authentication"'


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return with_pending_payment(db, app.state.services.passwords, world, clock)


def _approve(client, headers, payment_id: int):  # type: ignore[no-untyped-def]
    return client.post(
        f"/v1/payments/{payment_id}/approve", headers={**headers, "Idempotency-Key": new_key()}
    )


def test_an_approval_without_a_recent_code_is_challenged_and_with_one_allowed(
    client, app, db, pw, world, clock
):
    with_step_up(db, world, minutes=5)
    with_authenticator(db, app.state.services.box, world, "acme-approver-a", clock)
    payment_id = world.payment_ids["acme"]
    approver = world.users["acme-approver-a"]

    # Signed in with a password alone (a token of before the authenticator): challenged.
    refused = _approve(client, bearer(app, approver, clock), payment_id)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"] == "step_up_required"
    assert "5 minutes" in refused.json()["detail"]
    header = refused.headers["WWW-Authenticate"]
    assert header.startswith(CHALLENGE) and 'max_age="300"' in header
    assert "error_description=" in header
    # A code given six minutes ago is too old.
    stale = bearer_signed_in(app, approver, clock, ("pwd", "otp"), ago=360)
    assert _approve(client, stale, payment_id).status_code == 401

    # The answer to the challenge: sign in again with the code, and send the request again.
    token = client.post(
        "/v1/auth/token",
        data={"username": "acme-approver-a", "password": PASSWORD, "otp": code(clock)},
    )
    assert token.status_code == 200, token.text
    fresh = {"Authorization": f"Bearer {token.json()['access_token']}"}
    approved = _approve(client, fresh, payment_id)
    assert approved.status_code == 201, approved.text
    assert approved.json()["status"] == "sent"

    with db.unit_of_work(write=False) as session:
        logged = session.scalars(
            select(DecisionRecord)
            .where(DecisionRecord.action == "payment.approve")
            .order_by(DecisionRecord.id)
        ).all()
        assert [d.reason for d in logged] == ["step_up_required", "step_up_required", "ok"]
        assert "authenticator" in logged[0].detail
        assert '"step_up"' in (logged[0].facts or "") and "authentication" in (
            logged[0].facts or ""
        )
        assert session.get(Payment, payment_id).status == "sent"  # type: ignore[union-attr]


def test_a_recovery_code_sign_in_is_no_step_up(client, app, db, pw, world, clock):
    with_step_up(db, world, minutes=5)
    recovered = bearer_signed_in(app, world.users["acme-approver-a"], clock, ("pwd", "rec"))
    refused = _approve(client, recovered, world.payment_ids["acme"])
    assert refused.status_code == 401 and refused.json()["error"] == "step_up_required"


def test_without_step_up_a_password_is_enough(client, app, pw, world, clock):
    approved = _approve(
        client, bearer(app, world.users["acme-approver-a"], clock), world.payment_ids["acme"]
    )
    assert approved.status_code == 201, approved.text


def test_transfers_need_it_only_above_the_company_amount(client, app, db, world, clock):
    with_step_up(db, world, minutes=5, above=("EUR", 1_000_00))
    payer = bearer(app, world.users["acme-payer"], clock)

    def send(amount: int, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        return client.post(
            "/v1/transfers",
            json={
                "from_account_id": world.account_id("acme-operating"),
                "to_account_id": world.account_id("acme-payroll"),
                "amount": amount,
                "currency": "EUR",
            },
            headers={**headers, "Idempotency-Key": new_key()},
        )

    assert send(1_000_00, payer).status_code == 201
    above = send(1_000_01, payer)
    assert above.status_code == 401 and above.json()["error"] == "step_up_required"
    strong = bearer_signed_in(app, world.users["acme-payer"], clock, ("pwd", "otp"), ago=60)
    assert send(1_000_01, strong).status_code == 201


def test_adding_a_beneficiary_and_approving_a_change_request_need_it(client, app, db, world, clock):
    passwords = app.state.services.passwords
    request_id = with_change_request(db, passwords, world, clock)
    with_step_up(db, world, minutes=10)
    admin = world.users["acme-admin"]
    payee = {"name": "Fournisseur SA", "iban": "FR1420041010050500013M02606"}
    refused = client.post("/v1/beneficiaries", json=payee, headers=bearer(app, admin, clock))
    assert refused.status_code == 401 and 'max_age="600"' in refused.headers["WWW-Authenticate"]
    strong = bearer_signed_in(app, admin, clock, ("otp",))
    assert client.post("/v1/beneficiaries", json=payee, headers=strong).status_code == 201

    approve = f"/v1/change-requests/{request_id}/approve"
    weak = client.post(approve, headers={**bearer(app, admin, clock), "Idempotency-Key": new_key()})
    assert weak.status_code == 401 and weak.json()["error"] == "step_up_required"
    done = client.post(approve, headers={**strong, "Idempotency-Key": new_key()})
    assert done.status_code == 200 and done.json()["status"] == "applied", done.text


def test_explain_and_the_buttons_say_a_step_up_is_asked(client, app, db, pw, world, clock):
    with_step_up(db, world, minutes=5)
    payment_id = world.payment_ids["acme"]
    explained = client.get(
        "/v1/authz/explain",
        params={
            "user": world.user_id("acme-approver-a"),
            "action": "payment.approve",
            "payment": payment_id,
        },
        headers=bearer(app, world.users["acme-admin"], clock),
    ).json()
    assert explained["decision"] == "deny" and explained["reason"] == "step_up_required"
    assert explained["status"] == 401
    step_up = explained["grants"][0]["conditions"][-1]
    assert step_up["name"] == "step_up" and step_up["reason"] == "step_up_required"
    assert not step_up["passed"] and "within the last 5 minutes" in step_up["text"]
    assert all(c["passed"] for c in explained["grants"][0]["conditions"][:-1])
    # The inbox still offers it: the approver gives the code when approving.
    approver = bearer(app, world.users["acme-approver-a"], clock)
    inbox = client.get("/v1/approvals", headers=approver).json()
    assert [item["payment"]["id"] for item in inbox] == [payment_id]


def test_the_bank_sets_a_company_step_up_and_its_own(client, app, world, clock):
    manager = bearer(app, world.users["manager"], clock)
    acme = f"/v1/tenants/{world.tenants['acme'].id}"
    set_up = client.patch(
        acme,
        json={"step_up_minutes": 15, "step_up_transfer": {"currency": "EUR", "amount": 500_000}},
        headers=manager,
    )
    assert set_up.status_code == 200, set_up.text
    assert set_up.json()["step_up_minutes"] == 15
    assert set_up.json()["step_up_transfer"] == {"currency": "EUR", "amount": 500_000}
    # Left out of a patch, it stays; cleared, money moves need none.
    kept = client.patch(acme, json={"payment_expiry_days": 5}, headers=manager).json()
    assert kept["step_up_transfer"] == {"currency": "EUR", "amount": 500_000}
    cleared = client.patch(acme, json={"clear_step_up_transfer": True}, headers=manager).json()
    assert cleared["step_up_transfer"] is None and cleared["step_up_minutes"] == 15
    for bad in (
        {"step_up_minutes": -1},
        {"step_up_minutes": 1441},
        {"step_up_transfer": {"currency": "EUR", "amount": 0}},
        {"step_up_transfer": {"currency": "XXX", "amount": 100}},
        {"clear_step_up_transfer": True, "step_up_transfer": {"currency": "EUR", "amount": 1}},
    ):
        refused = client.patch(acme, json=bad, headers=manager)
        assert refused.status_code == 422, (bad, refused.text)
    # A company's admin cannot lift its own step-up: the bank sets it.
    admin = bearer(app, world.users["acme-admin"], clock)
    assert client.patch(acme, json={"step_up_minutes": 0}, headers=admin).status_code == 404
    bank = client.patch(
        "/v1/bank/settings",
        json={"mfa_required_for_staff_and_admins": True, "step_up_minutes": 10},
        headers=manager,
    ).json()
    assert bank["mfa_required_for_staff_and_admins"] is True and bank["step_up_minutes"] == 10


def test_a_batch_waiting_for_a_step_up_approver_offers_approve_as_a_payment_does(
    app, db, pw, world, clock
):
    """A regression: a batch's buttons asked `allowed`, so under step-up its Approve button
    was hidden (a payment's asks `possible`: pressing it asks for the code)."""
    with_pending_batch(db, app.state.services.passwords, world, clock, pw)
    with_step_up(db, world, minutes=5)
    ctx = RequestContext(actor=actor_of(world.users["acme-approver-a"]), clock=clock)
    batch = UnitOfWork(db, ctx, write=False).run(batches.batch_choices, world.batch_ids["acme"])
    payment = UnitOfWork(db, ctx, write=False).run(payment_choices, world.payment_ids["acme"])
    assert batch.approve and payment.approve
    assert batch.approving_would == "post 2 payments of 20,000.00 EUR in all"
