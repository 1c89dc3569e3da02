"""The payer's activity shows each step of their payments: their own (prepared), and those
others took (each approval, a rejection, an admin's cancellation) or Mandate took (posted,
sent, scheduled then executed, failed, expired), each written to the payer's activity when it
happened; nobody else's activity gains anything, and a refused step tells nothing."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from core.payments import service as payments
from tests.factories import bearer, new_key, unit_of_work
from tests.payments_world import PaymentsWorld, build_payments_world


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _pay(client, app, pw, clock, amount: int, payee: str = "globex", **extra):  # type: ignore[no-untyped-def]
    made = client.post(
        "/v1/payments",
        json={
            "account_id": pw.world.account_id("acme-operating"),
            "beneficiary_id": pw.beneficiary_id(payee),
            "amount": amount,
            "currency": "EUR",
            **extra,
        },
        headers={**bearer(app, pw.world.users["acme-payer"], clock), "Idempotency-Key": new_key()},
    )
    assert made.status_code in (201, 202), made.text
    return made.json()


def _as(app, pw, clock, who: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(app, pw.world.users[who], clock)


def _steps(client, app, pw, clock, payment_id: int, who: str = "acme-payer") -> list:  # type: ignore[no-untyped-def,type-arg]
    items = client.get("/v1/activity", headers=_as(app, pw, clock, who)).json()["items"]
    return [
        (i["action"], i["step"], i["acted_by"], i["detail"])
        for i in reversed(items)
        if i["payment_id"] == payment_id
    ]


def test_the_payer_sees_both_approvals_and_the_posting(client, app, pw, clock):
    payment = _pay(client, app, pw, clock, 150_000_00)  # two approvals, one from A
    for who in ("acme-approver-b", "acme-approver-a"):
        approved = client.post(
            f"/v1/payments/{payment['id']}/approve",
            headers={**_as(app, pw, clock, who), "Idempotency-Key": new_key()},
        )
        assert approved.status_code in (201, 202), approved.text
    a, b = pw.world.user_id("acme-approver-a"), pw.world.user_id("acme-approver-b")
    assert _steps(client, app, pw, clock, payment["id"]) == [
        (
            "payment.approve",
            True,
            b,
            f"Acme Approver B approved your payment {payment['id']} of 150,000.00 EUR to "
            "Globex; it needs 1 more approval from group A",
        ),
        (
            "payment.approve",
            True,
            a,
            f"Acme Approver A approved your payment {payment['id']} of 150,000.00 EUR to Globex",
        ),
        (
            "payment.posted",
            True,
            a,
            f"your payment {payment['id']} of 150,000.00 EUR to Globex is posted: the money "
            "has moved",
        ),
    ]
    # The payer's own step is there too (as before, without a payment_id): prepared.
    items = client.get("/v1/activity", headers=_as(app, pw, clock, "acme-payer")).json()["items"]
    own = [i for i in items if not i["step"]]
    assert own[0]["action"] == "payment.create" and own[0]["acted_by"] == pw.world.user_id(
        "acme-payer"
    )
    # The approvers' activity holds their own approvals only; nobody else's gains anything.
    assert [
        i["step"]
        for i in client.get("/v1/activity", headers=_as(app, pw, clock, "acme-approver-a")).json()[
            "items"
        ]
    ] == [False]
    for outsider in ("globex-admin", "acme-admin", "compliance"):
        listed = client.get("/v1/activity", headers=_as(app, pw, clock, outsider)).json()
        assert not [i for i in listed["items"] if i["step"]], outsider


def test_a_rejection_and_an_admins_cancellation_are_told_with_their_reasons(client, app, pw, clock):
    rejected = _pay(client, app, pw, clock, 20_000_00)
    cancelled = _pay(client, app, pw, clock, 21_000_00)
    own = _pay(client, app, pw, clock, 22_000_00)
    client.post(
        f"/v1/payments/{rejected['id']}/reject",
        json={"reason": "no invoice"},
        headers=_as(app, pw, clock, "acme-approver-b"),
    )
    client.post(
        f"/v1/payments/{cancelled['id']}/cancel",
        json={"reason": "duplicate"},
        headers=_as(app, pw, clock, "acme-admin"),
    )
    client.post(
        f"/v1/payments/{own['id']}/cancel", json={}, headers=_as(app, pw, clock, "acme-payer")
    )
    assert _steps(client, app, pw, clock, rejected["id"]) == [
        (
            "payment.reject",
            True,
            pw.world.user_id("acme-approver-b"),
            f"Acme Approver B rejected your payment {rejected['id']} of 20,000.00 EUR to "
            "Globex: “no invoice”",
        )
    ]
    [(action, _, by, detail)] = _steps(client, app, pw, clock, cancelled["id"])
    assert (action, by) == ("payment.cancel", pw.world.user_id("acme-admin"))
    assert detail.endswith(": “duplicate”")
    # Cancelled by the payer: their own activity says so already, no step is added.
    assert _steps(client, app, pw, clock, own["id"]) == []


def test_a_refused_approval_tells_nothing(client, app, pw, clock):
    payment = _pay(client, app, pw, clock, 20_000_00)
    refused = client.post(
        f"/v1/payments/{payment['id']}/approve",
        headers={**_as(app, pw, clock, "acme-bookkeeper"), "Idempotency-Key": new_key()},
    )
    assert refused.status_code == 403
    assert _steps(client, app, pw, clock, payment["id"]) == []


def test_mandate_s_own_steps_expired_scheduled_executed(client, app, db, pw, clock):
    lapsing = _pay(client, app, pw, clock, 20_000_00)
    tomorrow = clock.now().astimezone(ZoneInfo("Europe/Berlin")).date() + dt.timedelta(days=1)
    dated = _pay(client, app, pw, clock, 20_000_00, execution_date=tomorrow.isoformat())
    approved = client.post(
        f"/v1/payments/{dated['id']}/approve",
        headers={**_as(app, pw, clock, "acme-approver-a"), "Idempotency-Key": new_key()},
    )
    assert approved.json()["status"] == "scheduled"
    clock.at = clock.now() + dt.timedelta(days=8)
    unit_of_work(db, clock).run(payments.run_payments)
    assert _steps(client, app, pw, clock, lapsing["id"]) == [
        (
            "payment.expired",
            True,
            None,
            f"your payment {lapsing['id']} of 20,000.00 EUR to Globex expired: not approved in "
            "time, its hold is released",
        )
    ]
    assert [(s[0], s[2]) for s in _steps(client, app, pw, clock, dated["id"])] == [
        ("payment.approve", pw.world.user_id("acme-approver-a")),
        ("payment.scheduled", pw.world.user_id("acme-approver-a")),
        ("payment.posted", None),
    ]
    assert _steps(client, app, pw, clock, dated["id"])[-1][3].endswith(
        "is posted on its date: the money has moved"
    )
