"""Payments under dual control over the API: the whole flow, and its refusals."""

from __future__ import annotations

import pytest

from tests.factories import bearer, new_key
from tests.payments_world import PaymentsWorld, build_payments_world


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _pay(client, headers, pw: PaymentsWorld, amount: int, payee: str = "supplier", **extra):  # type: ignore[no-untyped-def]
    body = {
        "account_id": pw.world.account_id("acme-operating"),
        "beneficiary_id": pw.beneficiary_id(payee),
        "amount": amount,
        "currency": "EUR",
        "reference": "Invoice 42",
        **extra,
    }
    return client.post("/v1/payments", json=body, headers={**headers, "Idempotency-Key": new_key()})


def _account(client, headers, account_id: int) -> dict:  # type: ignore[type-arg]
    return client.get(f"/v1/accounts/{account_id}", headers=headers).json()


def test_a_small_payment_is_sent_at_once(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    before = _account(client, payer, pw.world.account_id("acme-operating"))
    sent = _pay(client, payer, pw, 500_00)
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert body["status"] == "sent" and body["kind"] == "external"
    assert body["transfer_id"] is not None
    after = _account(client, payer, pw.world.account_id("acme-operating"))
    assert after["balance"] == before["balance"] - 500_00
    assert after["held"] == 0


def test_a_large_payment_waits_for_a_and_b_then_posts(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    a = bearer(app, pw.world.users["acme-approver-a"], clock)
    b = bearer(app, pw.world.users["acme-approver-b"], clock)
    account_id = pw.world.account_id("acme-operating")
    before = _account(client, payer, account_id)
    made = _pay(client, payer, pw, 150_000_00, payee="globex")
    assert made.status_code == 202, made.text
    payment = made.json()
    assert payment["status"] == "pending_approval"
    assert payment["required"]["text"] == "2 more approvals, 1 of them from group A"
    held = _account(client, payer, account_id)
    assert held["held"] == 150_000_00
    assert held["available"] == before["available"] - 150_000_00
    assert held["balance"] == before["balance"]

    # The payer may not approve their own payment.
    own = client.post(
        f"/v1/payments/{payment['id']}/approve",
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert own.status_code == 403
    # The payer's role carries no payment.approve at all.
    assert own.json()["error"] == "missing_permission"

    first = client.post(
        f"/v1/payments/{payment['id']}/approve", headers={**b, "Idempotency-Key": new_key()}
    )
    assert first.status_code == 202, first.text
    assert first.json()["required"]["text"] == "1 more approval from group A"
    again = client.post(
        f"/v1/payments/{payment['id']}/approve", headers={**b, "Idempotency-Key": new_key()}
    )
    assert again.status_code == 403 and again.json()["error"] == "already_approved"

    last = client.post(
        f"/v1/payments/{payment['id']}/approve", headers={**a, "Idempotency-Key": new_key()}
    )
    assert last.status_code == 201, last.text
    assert last.json()["status"] == "posted"
    assert [x["approval_group"] for x in last.json()["approvals"]] == ["B", "A"]
    after = _account(client, payer, account_id)
    assert after["held"] == 0
    assert after["balance"] == before["balance"] - 150_000_00
    late = client.post(
        f"/v1/payments/{payment['id']}/approve",
        headers={
            **bearer(app, pw.world.users["acme-approver-a"], clock),
            "Idempotency-Key": new_key(),
        },
    )
    assert late.status_code == 403 and late.json()["error"] in (
        "payment_not_pending",
        "already_approved",
    )


def test_two_b_approvals_cannot_fill_a_place_for_group_a(client, app, pw, db, clock):
    from tests.factories import unit_of_work
    from tests.payments_world import add_approver

    def more(session, _ctx):  # type: ignore[no-untyped-def]
        return add_approver(
            session,
            app.state.services.passwords,
            pw.world,
            "acme-approver-b2",
            group="B",
            limit=None,
            now=clock.now(),
        )

    b2 = unit_of_work(db, clock).run(more)
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    payment = _pay(client, payer, pw, 150_000_00).json()
    b = bearer(app, pw.world.users["acme-approver-b"], clock)
    assert (
        client.post(
            f"/v1/payments/{payment['id']}/approve", headers={**b, "Idempotency-Key": new_key()}
        ).status_code
        == 202
    )
    second_b = client.post(
        f"/v1/payments/{payment['id']}/approve",
        headers={**bearer(app, b2, clock), "Idempotency-Key": new_key()},
    )
    assert second_b.status_code == 403
    assert second_b.json()["error"] == "approval_group_not_needed"


def test_rejection_releases_the_hold(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    a = bearer(app, pw.world.users["acme-approver-a"], clock)
    account_id = pw.world.account_id("acme-operating")
    before = _account(client, payer, account_id)
    payment = _pay(client, payer, pw, 20_000_00).json()
    assert payment["status"] == "pending_approval"
    no_reason = client.post(f"/v1/payments/{payment['id']}/reject", json={}, headers=a)
    assert no_reason.status_code == 422 and no_reason.json()["error"] == "reason_required"
    rejected = client.post(
        f"/v1/payments/{payment['id']}/reject", json={"reason": "unknown invoice"}, headers=a
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["end_reason"] == "unknown invoice"
    assert _account(client, payer, account_id) == before


def test_the_initiator_cancels_while_pending(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    payment = _pay(client, payer, pw, 20_000_00).json()
    cancelled = client.post(f"/v1/payments/{payment['id']}/cancel", json={}, headers=payer)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    twice = client.post(f"/v1/payments/{payment['id']}/cancel", json={}, headers=payer)
    assert twice.status_code == 403 and twice.json()["error"] == "payment_not_pending"


def test_the_inbox_lists_what_one_may_approve(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    payment = _pay(client, payer, pw, 150_000_00).json()
    a = bearer(app, pw.world.users["acme-approver-a"], clock)
    inbox = client.get("/v1/approvals", headers=a).json()
    assert [i["payment"]["id"] for i in inbox] == [payment["id"]]
    assert inbox[0]["approving_would"] == "leave 1 more approval to go"
    assert client.get("/v1/approvals", headers=payer).json() == []


def test_another_tenant_sees_no_payment(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    payment = _pay(client, payer, pw, 150_000_00).json()
    globex = bearer(app, pw.world.users["globex-admin"], clock)
    for method, path in (
        ("get", f"/v1/payments/{payment['id']}"),
        ("post", f"/v1/payments/{payment['id']}/approve"),
        ("post", f"/v1/payments/{payment['id']}/reject"),
        ("post", f"/v1/payments/{payment['id']}/cancel"),
    ):
        extra = {"json": {"reason": "x"}} if method == "post" else {}
        answer = getattr(client, method)(
            path, headers={**globex, "Idempotency-Key": new_key()}, **extra
        )
        assert answer.status_code == 404, (path, answer.text)
    assert client.get("/v1/payments", headers=globex).json()["items"] == []


def test_a_preview_says_who_must_approve_and_changes_nothing(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    account_id = pw.world.account_id("acme-operating")
    before = _account(client, payer, account_id)
    body = {
        "account_id": account_id,
        "beneficiary_id": pw.beneficiary_id("globex"),
        "amount": 150_000_00,
        "currency": "EUR",
    }
    preview = client.post("/v1/payment-previews", json=body, headers=payer)
    assert preview.status_code == 200, preview.text
    answer = preview.json()
    assert answer["outcome"] == "pending_approval"
    assert answer["required"]["text"] == "2 more approvals, 1 of them from group A"
    assert sorted((a["display_name"], a["approval_group"]) for a in answer["approvers"]) == [
        ("Acme Approver A", "A"),
        ("Acme Approver B", "B"),
    ]
    small = client.post("/v1/payment-previews", json={**body, "amount": 100_00}, headers=payer)
    assert small.json()["outcome"] == "posted" and small.json()["approvers"] == []
    assert _account(client, payer, account_id) == before
    assert client.get("/v1/payments", headers=payer).json()["items"] == []


def test_holds_count_against_what_a_payment_may_take(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    account_id = pw.world.account_id("acme-payroll")  # 100,000.00 EUR
    body = {
        "account_id": account_id,
        "beneficiary_id": pw.beneficiary_id("supplier"),
        "amount": 60_000_00,
        "currency": "EUR",
    }
    first = client.post("/v1/payments", json=body, headers={**payer, "Idempotency-Key": new_key()})
    assert first.status_code == 202, first.text
    second = client.post("/v1/payments", json=body, headers={**payer, "Idempotency-Key": new_key()})
    assert second.status_code == 422
    assert second.json()["error"] == "insufficient_available"
    assert "40,000.00 EUR available" in second.json()["detail"]


def test_a_frozen_account_at_another_company_is_not_named(client, app, pw, clock):
    manager = bearer(app, pw.world.users["manager"], clock)
    globex_main = pw.world.account_id("globex-main")
    frozen = client.patch(f"/v1/accounts/{globex_main}", json={"status": "frozen"}, headers=manager)
    assert frozen.status_code == 200, frozen.text
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    refused = _pay(client, payer, pw, 100_00, payee="globex")
    assert refused.status_code == 409
    assert refused.json()["error"] == "beneficiary_account_unavailable"
    assert str(globex_main) not in refused.json()["detail"]
    assert "frozen" not in refused.json()["detail"]


def test_a_preview_tells_what_the_ledger_would_refuse(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    body = {
        "account_id": pw.world.account_id("acme-payroll"),
        "beneficiary_id": pw.beneficiary_id("supplier"),
        "amount": 100_000_01,
        "currency": "EUR",
    }
    preview = client.post("/v1/payment-previews", json=body, headers=payer).json()
    assert preview["outcome"] == "refused"
    assert preview["error"] == "insufficient_available"


def test_an_account_holding_money_for_payments_cannot_be_closed(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    made = _pay(client, payer, pw, 20_000_00)
    assert made.status_code == 202
    manager = bearer(app, pw.world.users["manager"], clock)
    closing = client.patch(
        f"/v1/accounts/{pw.world.account_id('acme-operating')}",
        json={"status": "closed"},
        headers=manager,
    )
    assert closing.status_code == 409
    assert "held for payments" in closing.json()["detail"]


def test_ibans_are_not_counted_from_account_ids(pw):
    ibans = [a.iban for a in pw.world.accounts.values()]
    numbers = sorted(int(iban[-10:]) for iban in ibans if iban)
    assert len(set(ibans)) == len(ibans) == 4
    assert numbers[-1] > 1_000_000  # random ten-digit national numbers, not 1, 2, 3, 4


def test_another_companys_account_currency_is_not_told(client, app, pw, clock):
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    refused = client.post(
        "/v1/payments",
        json={
            "account_id": pw.world.account_id("acme-usd"),
            "beneficiary_id": pw.beneficiary_id("globex"),
            "amount": 100_00,
            "currency": "USD",
        },
        headers={**payer, "Idempotency-Key": new_key()},
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "beneficiary_account_unavailable"
    assert "EUR" not in refused.json()["detail"]
