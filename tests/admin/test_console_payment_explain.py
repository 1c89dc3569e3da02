"""The console's "try it" box explains approving, rejecting and cancelling a given payment:
each condition beside its words, and, for whoever prepared it, that they cannot approve it
and what it still needs."""

from __future__ import annotations

import html

from tests.admin.console import sign_in
from tests.factories import bearer, new_key
from tests.payments_world import build_payments_world


def _result(page: str) -> str:
    return html.unescape(page[page.index('id="try-result"') :])


def test_try_it_explains_an_approval_of_a_payment(client, app, db, world, clock):
    pw = build_payments_world(db, app.state.services.passwords, world, clock)
    made = client.post(
        "/v1/payments",
        json={
            "account_id": world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id("supplier"),
            "amount": 150_000_00,
            "currency": "EUR",
        },
        headers={**bearer(app, world.users["acme-payer"], clock), "Idempotency-Key": new_key()},
    )
    assert made.status_code == 202, made.text
    payment = made.json()["id"]
    sign_in(client, "acme-admin")
    page = client.get(f"/console/users/{world.user_id('acme-payer')}").text
    assert '<option value="payment.reject"' in page and 'name="payment"' in page

    own = _result(
        client.get(
            f"/console/users/{world.user_id('acme-payer')}",
            params={"action": "payment.approve", "payment": str(payment)},
        ).text
    )
    assert (
        f"Payment no. {payment}: Acme Payer prepared this payment and cannot approve it: "
        "nobody approves their own. It needs 2 more approvals, 1 of them from group A, from "
        "other people." in own
    )

    approver = _result(
        client.get(
            f"/console/users/{world.user_id('acme-approver-b')}",
            params={"action": "payment.approve", "payment": str(payment)},
        ).text
    )
    assert "Allowed" in approver
    assert "Fills a place the panel still has" in approver
    assert (
        'title="It needs 2 more approvals, 1 of them from group A: an approval from group B '
        'fills one."' in approver
    )

    asked_badly = _result(
        client.get(
            f"/console/users/{world.user_id('acme-approver-b')}",
            params={"action": "payment.approve"},
        ).text
    )
    assert "is about a payment: give its id" in asked_badly
    not_a_number = _result(
        client.get(
            f"/console/users/{world.user_id('acme-approver-b')}",
            params={"action": "payment.approve", "payment": "twelve"},
        ).text
    )
    assert "Give the payment's number." in not_a_number
