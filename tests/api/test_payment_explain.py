"""Approvals in words: a refused approval says why with the payment's figures."""

from __future__ import annotations

import pytest

from tests.factories import bearer, new_key, unit_of_work
from tests.payments_world import PaymentsWorld, add_approver, build_payments_world


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _pending(client, app, pw: PaymentsWorld, clock, amount: int = 150_000_00) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """A payment acme-payer prepared that waits (150,000.00 EUR: two approvals, one of group A)."""
    made = client.post(
        "/v1/payments",
        json={
            "account_id": pw.world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id("supplier"),
            "amount": amount,
            "currency": "EUR",
        },
        headers={**bearer(app, pw.world.users["acme-payer"], clock), "Idempotency-Key": new_key()},
    )
    assert made.status_code == 202, made.text
    return made.json()  # type: ignore[no-any-return]


def _approver(app, db, pw: PaymentsWorld, clock, username: str, **grant):  # type: ignore[no-untyped-def]
    def add(session, _ctx):  # type: ignore[no-untyped-def]
        return add_approver(
            session, app.state.services.passwords, pw.world, username, now=clock.now(), **grant
        )

    return unit_of_work(db, clock).run(add)


def _approve(client, app, user, payment: dict, clock):  # type: ignore[no-untyped-def, type-arg]
    return client.post(
        f"/v1/payments/{payment['id']}/approve",
        headers={**bearer(app, user, clock), "Idempotency-Key": new_key()},
    )


# -- refusals in words ----------------------------------------------------------------------


def test_an_approval_above_the_limit_says_the_limit_and_the_amount(client, app, db, pw, clock):
    """Found here: the sentence lacked the payment's figures ("The payment is above your
    approval limit."), as the refusal was worded from money facts an approval has not."""
    small = _approver(app, db, pw, clock, "acme-approver-small", group="A", limit=10_000_00)
    payment = _pending(client, app, pw, clock, amount=20_000_00)
    refused = _approve(client, app, small, payment, clock)
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "approval_limit_exceeded",
        "detail": "Your approval limit is 10,000.00 EUR; this payment is 20,000.00 EUR.",
    }


def test_an_approval_limit_in_another_currency_names_both(client, app, db, pw, clock):
    """Found here too: "this account is in None"."""
    usd = _approver(app, db, pw, clock, "acme-approver-usd", group="A", limit=None)

    def in_usd(session, _ctx):  # type: ignore[no-untyped-def]
        from core.models.iam import Grant

        grant = session.get(Grant, pw.world.grants["acme-approver-usd"].id)
        grant.limit_currency = "USD"
        grant.approval_limit = 100_000_00

    unit_of_work(db, clock).run(in_usd)
    payment = _pending(client, app, pw, clock, amount=20_000_00)
    refused = _approve(client, app, usd, payment, clock)
    assert refused.json() == {
        "error": "limit_currency_mismatch",
        "detail": "Your limits are set in USD; this payment is in EUR.",
    }


def test_who_prepared_a_payment_is_told_who_else_must_approve(client, app, db, pw, clock):
    # An approver who prepares a payment (their own grant carries no payment.create here,
    # so the payment is made by acme-payer and the approver is recorded as its maker).
    payment = _pending(client, app, pw, clock)

    def made_by_approver(session, _ctx):  # type: ignore[no-untyped-def]
        from core.models.payments import Payment

        row = session.get(Payment, payment["id"])
        row.initiated_by_id = pw.world.user_id("acme-approver-a")

    unit_of_work(db, clock).run(made_by_approver)
    own = _approve(client, app, pw.world.users["acme-approver-a"], payment, clock)
    assert own.status_code == 403
    assert own.json() == {
        "error": "self_approval_forbidden",
        "detail": "You prepared this payment: you cannot approve it yourself. It needs 2 more "
        "approvals, 1 of them from group A, from other people.",
    }
