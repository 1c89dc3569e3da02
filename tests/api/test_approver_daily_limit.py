"""An approver's optional daily approval limit: given, kept and cleared through the grants
API like the other approval terms (refused where it would mean nothing), and held by the
policy: the payments a person's approvals of a day count toward (the company's day, in the
grant's limit currency) never sum past it, not even when two approvals arrive at once
(PostgreSQL: the approver is locked)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.context import RequestContext
from core.errors import MandateError
from core.models.iam import actor_of
from core.payments import service as payments
from core.payments.schemas import PaymentCreate
from core.uow import UnitOfWork
from tests.factories import bearer, new_key, unit_of_work
from tests.payments_world import PaymentsWorld, add_approver, build_payments_world

DAILY = 30_000_00


@pytest.fixture
def pw(app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    """The payments world, and an approver of group A who may approve 30,000.00 EUR a day."""
    built = build_payments_world(db, app.state.services.passwords, world, clock)
    unit_of_work(db, clock).run(
        lambda session, _ctx: add_approver(
            session,
            app.state.services.passwords,
            world,
            "acme-daily",
            group="A",
            limit=None,
            daily_limit=DAILY,
            now=clock.now(),
        )
    )
    return built


def _pending(  # type: ignore[no-untyped-def]
    db, clock, pw: PaymentsWorld, amount: int = 20_000_00, account: str = "acme-operating"
) -> int:
    payee = "supplier" if account == "acme-operating" else "globex"
    body = PaymentCreate(
        account_id=pw.world.account_id(account),
        beneficiary_id=pw.beneficiary_id(payee),
        amount=amount,
        currency="EUR",
    )
    ctx = RequestContext(actor=actor_of(pw.world.users["acme-payer"]), clock=clock)
    made = UnitOfWork(db, ctx).run(payments.create_payment, body, new_key())
    assert made.payment.status == "pending_approval"
    return made.payment.id  # type: ignore[no-any-return]


def _approve(client, app, pw, clock, payment_id: int):  # type: ignore[no-untyped-def]
    headers = {**bearer(app, pw.world.users["acme-daily"], clock), "Idempotency-Key": new_key()}
    return client.post(f"/v1/payments/{payment_id}/approve", headers=headers)


def test_the_daily_approval_limit_is_given_kept_cleared_and_refused_where_meaningless(
    client, app, world, clock
):
    admin = bearer(app, world.users["acme-admin"], clock)
    roles = {r["key"]: r["id"] for r in client.get("/v1/roles", headers=admin).json()}
    person = client.post(
        "/v1/users",
        json={"username": "dana-daily", "display_name": "Dana", "password": "x" * 16},
        headers=admin,
    ).json()["id"]
    base = {"user_id": person, "role_id": roles["approver"]}
    no_currency = client.post("/v1/grants", json={**base, "approval_daily_limit": 1}, headers=admin)
    assert no_currency.status_code == 422, no_currency.text
    assert "approval_daily_limit" in no_currency.json()["detail"]
    payer_role = {**base, "role_id": roles["payer"], "limits": {"currency": "EUR"}}
    meaningless = client.post(
        "/v1/grants", json={**payer_role, "approval_daily_limit": 1}, headers=admin
    )
    assert meaningless.status_code == 422, meaningless.text
    assert meaningless.json()["detail"].startswith("approval_daily_limit:")
    created = client.post(
        "/v1/grants",
        json={**base, "limits": {"currency": "EUR"}, "approval_daily_limit": 50_000_00},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    grant = created.json()
    assert grant["approval_daily_limit"] == 50_000_00
    kept = client.patch(
        f"/v1/grants/{grant['id']}", json={"approval_group": "B"}, headers=admin
    ).json()
    assert (kept["approval_group"], kept["approval_daily_limit"]) == ("B", 50_000_00)
    cleared = client.patch(
        f"/v1/grants/{grant['id']}", json={"clear_approval_daily_limit": True}, headers=admin
    ).json()
    assert cleared["approval_daily_limit"] is None
    for bad in (0, -1, "100", 10**18):
        refused = client.patch(
            f"/v1/grants/{grant['id']}", json={"approval_daily_limit": bad}, headers=admin
        )
        assert refused.status_code == 422, (bad, refused.text)


def test_approvals_of_a_day_never_sum_past_the_daily_limit(client, app, db, pw, clock):
    first, second, small = (
        _pending(db, clock, pw),
        _pending(db, clock, pw),
        _pending(db, clock, pw, 10_000_00),
    )
    assert _approve(client, app, pw, clock, first).status_code == 201
    daily = bearer(app, pw.world.users["acme-daily"], clock)
    inbox = [i["payment"]["id"] for i in client.get("/v1/approvals", headers=daily).json()]
    assert second not in inbox and small in inbox  # 20,000.00 more would pass 30,000.00
    refused = _approve(client, app, pw, clock, second)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "approval_daily_limit_exceeded"
    assert refused.json()["detail"] == (
        "Your daily approval limit is 30,000.00 EUR; you approved 20,000.00 EUR today, and "
        "this payment is 20,000.00 EUR."
    )
    assert _approve(client, app, pw, clock, small).status_code == 201  # exactly the limit
    # The next day (the company's), the count starts again.
    clock.at = clock.now() + dt.timedelta(days=1)
    assert _approve(client, app, pw, clock, second).status_code == 201


def test_explain_words_the_daily_approval_limit(client, app, db, pw, clock):
    _approve(client, app, pw, clock, _pending(db, clock, pw))
    payment = _pending(db, clock, pw)
    admin = bearer(app, pw.world.users["acme-admin"], clock)
    explained = client.get(
        "/v1/authz/explain",
        params={
            "user": pw.world.user_id("acme-daily"),
            "action": "payment.approve",
            "payment": payment,
        },
        headers=admin,
    )
    assert explained.status_code == 200, explained.text
    (grant,) = explained.json()["grants"]
    words = {c["reason"]: (c["passed"], c["text"]) for c in grant["conditions"]}
    assert words["approval_daily_limit_exceeded"] == (
        False,
        "Daily approval limit 30,000.00 EUR (set by the grant); with this payment, approved "
        "today: 40,000.00 EUR, above it.",
    )


def test_two_approvals_at_once_never_jointly_pass_the_daily_limit(backend, db, pw, clock):
    if backend != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    for _ in range(4):
        # From two accounts to two others: no account lock is shared, only the approver's.
        pair = [_pending(db, clock, pw), _pending(db, clock, pw, account="acme-payroll")]
        barrier = threading.Barrier(2)

        def approve(payment_id: int, barrier: threading.Barrier = barrier) -> str:
            barrier.wait(timeout=30)
            try:
                approver = RequestContext(actor=actor_of(pw.world.users["acme-daily"]), clock=clock)
                UnitOfWork(db, approver).run(payments.approve_payment, payment_id, new_key())
            except MandateError as refusal:
                return refusal.code
            return "approved"

        with ThreadPoolExecutor(2) as pool:
            answers = sorted(pool.map(approve, pair))
        assert answers == ["approval_daily_limit_exceeded", "approved"], answers
        clock.at = clock.now() + dt.timedelta(days=1)  # a new day for the next round
