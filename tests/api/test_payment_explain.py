"""Approvals in words: a refused approval says why with the payment's figures, and the
policy's explanation of an approval (GET /v1/authz/explain with a payment) gives each
condition, and says plainly to whoever prepared the payment that they cannot approve it and
what it still needs."""

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


def _explain(client, app, pw: PaymentsWorld, clock, user: str, payment: dict, **params):  # type: ignore[no-untyped-def, type-arg]
    admin = bearer(app, pw.world.users["acme-admin"], clock)
    return client.get(
        "/v1/authz/explain",
        params={
            "user": pw.world.user_id(user),
            "action": "payment.approve",
            "payment": payment["id"],
            **params,
        },
        headers=admin,
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


# -- explaining an approval -----------------------------------------------------------------


def test_explain_gives_each_condition_of_an_approval_in_words(client, app, pw, clock):
    payment = _pending(client, app, pw, clock)
    explained = _explain(client, app, pw, clock, "acme-approver-b", payment)
    assert explained.status_code == 200, explained.text
    body = explained.json()
    assert (body["decision"], body["reason"], body["message"]) == ("allow", "ok", "Allowed.")
    (grant,) = body["grants"]
    words = {c["reason"]: (c["passed"], c["text"]) for c in grant["conditions"]}
    assert list(words) == [
        "missing_permission",
        "grant_not_yet_valid",
        "grant_expired",
        "payment_not_pending",
        "self_approval_forbidden",
        "already_approved",
        "approval_group_not_needed",
        "limit_currency_mismatch",
        "approval_limit_exceeded",
        "approval_daily_limit_exceeded",
        "step_up_required",
    ]
    assert words["approval_daily_limit_exceeded"] == (True, "No daily approval limit.")
    assert words["step_up_required"] == (True, "The company asks no step-up.")
    assert words["payment_not_pending"] == (
        True,
        "The payment awaits approval until 2026-12-02 09:00 UTC.",
    )
    assert words["self_approval_forbidden"] == (True, "Someone else prepared the payment.")
    assert words["already_approved"] == (True, "They have not approved it yet.")
    assert words["approval_group_not_needed"] == (
        True,
        "It needs 2 more approvals, 1 of them from group A: an approval from group B fills one.",
    )
    assert words["approval_limit_exceeded"] == (
        True,
        "Approval limit 500,000.00 EUR (set by the grant); this payment is 150,000.00 EUR.",
    )
    # The API's name for each, as clients key on it, beside the policy's.
    names = {c["reason"]: c["name"] for c in grant["conditions"]}
    assert names["approval_limit_exceeded"] == "approval_limit"
    assert body["payment"] == {
        "payment_id": payment["id"],
        "status": "pending_approval",
        "initiated_by": pw.world.user_id("acme-payer"),
        "prepared_by_user": False,
        "approvers": [],
        "still_needed": 2,
        "still_needed_a": 1,
        "text": "The payment awaits 2 more approvals, 1 of them from group A.",
    }

    # After B's approval only group A may fill the last place, and B counted already.
    assert (
        _approve(client, app, pw.world.users["acme-approver-b"], payment, clock).status_code == 202
    )
    again = _explain(client, app, pw, clock, "acme-approver-b", payment).json()
    assert (again["decision"], again["reason"]) == ("deny", "already_approved")
    failed = {c["reason"]: c["text"] for c in again["grants"][0]["conditions"] if not c["passed"]}
    assert failed == {
        "already_approved": "They approved it already: nobody counts twice.",
        "approval_group_not_needed": "It needs 1 more approval from group A: an approval from "
        "group B fills none of them.",
    }
    assert again["payment"]["approvers"] == [pw.world.user_id("acme-approver-b")]


def test_explain_tells_whoever_prepared_the_payment_they_cannot_approve_it(client, app, pw, clock):
    payment = _pending(client, app, pw, clock)
    explained = _explain(client, app, pw, clock, "acme-payer", payment).json()
    # The payer's role carries no payment.approve at all: that is the refusal; the payment
    # says plainly what else stands in the way, and who must approve instead.
    assert (explained["decision"], explained["reason"]) == ("deny", "missing_permission")
    assert explained["payment"]["prepared_by_user"] is True
    assert explained["payment"]["text"] == (
        "Acme Payer prepared this payment and cannot approve it: nobody approves their own. "
        "It needs 2 more approvals, 1 of them from group A, from other people."
    )


def test_explain_says_a_payment_past_its_expiry_awaits_nothing(client, app, pw, clock):
    payment = _pending(client, app, pw, clock)
    clock.advance(days=8)
    explained = _explain(client, app, pw, clock, "acme-approver-a", payment).json()
    assert (explained["decision"], explained["reason"]) == ("deny", "payment_not_pending")
    assert explained["message"] == "The payment is expired: it awaits no approval."
    assert explained["payment"]["status"] == "expired"
    assert explained["payment"]["text"] == "The payment is expired: it awaits no approval."


def test_explain_of_a_rejection_and_a_cancellation(client, app, pw, clock):
    payment = _pending(client, app, pw, clock)
    rejecting = _explain(
        client, app, pw, clock, "acme-approver-b", payment, action="payment.reject"
    ).json()
    assert rejecting["decision"] == "allow"
    cancelling = _explain(
        client, app, pw, clock, "acme-payer", payment, action="payment.cancel"
    ).json()
    # An own action: no grant of the payer's carries payment.cancel, and none is needed.
    assert cancelling["decision"] == "allow"
    assert cancelling["payment"]["text"] == (
        "Acme Payer prepared this payment and may cancel it while it waits. It needs 2 more "
        "approvals, 1 of them from group A."
    )


def test_explain_of_an_approval_needs_a_payment_it_may_see(client, app, pw, clock):
    payment = _pending(client, app, pw, clock)
    admin = bearer(app, pw.world.users["acme-admin"], clock)
    base = {"user": pw.world.user_id("acme-approver-a"), "action": "payment.approve"}
    no_payment = client.get("/v1/authz/explain", params=base, headers=admin)
    assert no_payment.status_code == 422, no_payment.text
    assert no_payment.json()["error"] == "invalid_request"
    assert "payment" in no_payment.json()["detail"]
    not_about_payments = client.get(
        "/v1/authz/explain",
        params={**base, "action": "account.read", "payment": payment["id"]},
        headers=admin,
    )
    assert not_about_payments.status_code == 422
    its_own_amount = client.get(
        "/v1/authz/explain", params={**base, "payment": payment["id"], "amount": 5}, headers=admin
    )
    assert its_own_amount.status_code == 422
    other_account = client.get(
        "/v1/authz/explain",
        params={
            **base,
            "payment": payment["id"],
            "account": pw.world.account_id("acme-payroll"),
        },
        headers=admin,
    )
    assert other_account.status_code == 422
    assert client.get(
        "/v1/authz/explain", params={**base, "payment": 999_999}, headers=admin
    ).json() == {"error": "not_found", "detail": "payment 999999 not found"}
    # Another company's admin finds neither the user nor the payment.
    globex = bearer(app, pw.world.users["globex-admin"], clock)
    hidden = client.get(
        "/v1/authz/explain",
        params={
            "user": pw.world.user_id("globex-payer"),
            "action": "payment.approve",
            "payment": payment["id"],
        },
        headers=globex,
    )
    assert hidden.json() == {"error": "not_found", "detail": f"payment {payment['id']} not found"}
    # The explanation of anything else is as it was: no payment in it.
    plain = client.get(
        "/v1/authz/explain",
        params={"user": pw.world.user_id("acme-payer"), "action": "account.read"},
        headers=admin,
    ).json()
    assert plain["payment"] is None
