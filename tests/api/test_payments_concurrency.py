"""Payments under real concurrency, through the HTTP API served by uvicorn (PostgreSQL: the row
locks are what is tested; SQLite runs one writer at a time). Each race starts its requests
together at a barrier, on clients already connected, and is run a few rounds."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from core import uow
from core.db import is_retryable, sqlstate
from core.models.ledger import Account, Transfer
from core.models.payments import Payment, PaymentApproval
from core.payments import service as payments
from tests.factories import bearer, new_key, unit_of_work
from tests.ledger_checks import assert_ledger_consistent
from tests.payments_checks import assert_payments_consistent
from tests.payments_world import PaymentsWorld, build_payments_world

ROUNDS = 4
Request = Callable[[httpx.Client], httpx.Response]


@pytest.fixture
def pw(backend, app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    if backend != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    return build_payments_world(db, app.state.services.passwords, world, clock)


def at_once(live_server, requests: list[Request]) -> list[httpx.Response]:  # type: ignore[no-untyped-def]
    """Send the requests together: each thread connects first, then all wait at a barrier."""
    barrier = threading.Barrier(len(requests))

    def send(request: Request) -> httpx.Response:
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            assert http.get("/healthz").status_code == 200  # connected before the start
            barrier.wait(timeout=30)
            return request(http)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def pay(client, headers, pw: PaymentsWorld, amount: int, account: str = "acme-operating") -> dict:  # type: ignore[no-untyped-def,type-arg]
    made = client.post(
        "/v1/payments",
        json={
            "account_id": pw.world.account_id(account),
            "beneficiary_id": pw.beneficiary_id("supplier"),
            "amount": amount,
            "currency": "EUR",
        },
        headers={**headers, "Idempotency-Key": new_key()},
    )
    assert made.status_code == 202, made.text
    return made.json()  # type: ignore[no-any-return]


def approve(payment_id: int, headers: dict[str, str]) -> Request:
    return lambda http: http.post(
        f"/v1/payments/{payment_id}/approve", headers={**headers, "Idempotency-Key": new_key()}
    )


def cancel(payment_id: int, headers: dict[str, str]) -> Request:
    return lambda http: http.post(f"/v1/payments/{payment_id}/cancel", json={}, headers=headers)


def create(body: dict[str, object], headers: dict[str, str]) -> Request:
    return lambda http: http.post(
        "/v1/payments", json=body, headers={**headers, "Idempotency-Key": new_key()}
    )


def operating(db, pw: PaymentsWorld) -> Account:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        account = session.get(Account, pw.world.account_id("acme-operating"))
        assert account is not None
        return account


def consistent(db) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        assert_ledger_consistent(session)
        assert_payments_consistent(session)


def payment_row(db, payment_id: int) -> tuple[Payment, int]:  # type: ignore[no-untyped-def]
    """The payment and how many approvals it has."""
    with db.unit_of_work(write=False) as session:
        payment = session.get(Payment, payment_id)
        assert payment is not None
        approvals = session.scalar(
            select(func.count(PaymentApproval.id)).where(PaymentApproval.payment_id == payment_id)
        )
        return payment, approvals or 0


def postings(db) -> int:  # type: ignore[no-untyped-def]
    """How many payments the ledger has posted, in all."""
    with db.unit_of_work(write=False) as session:
        return (
            session.scalar(select(func.count(Transfer.id)).where(Transfer.kind == "payment")) or 0
        )


def test_two_approvers_at_once_on_the_last_place_post_the_payment_once(
    client, app, db, pw, clock, live_server
):
    """The panel needs one more approval and A and B approve at the same instant: the payment
    row's lock lets one through; the other then finds it no longer waiting."""
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    a = bearer(app, pw.world.users["acme-approver-a"], clock)
    b = bearer(app, pw.world.users["acme-approver-b"], clock)
    for round_ in range(ROUNDS):
        before = operating(db, pw)
        payment = pay(client, payer, pw, 20_000_00)
        answers = at_once(live_server, [approve(payment["id"], a), approve(payment["id"], b)])
        statuses = sorted(r.status_code for r in answers)
        assert statuses == [201, 403], [r.text for r in answers]
        refused = next(r for r in answers if r.status_code == 403)
        assert refused.json()["error"] == "payment_not_pending", refused.text
        posted, approvals = payment_row(db, payment["id"])
        assert (posted.status, approvals, postings(db)) == ("sent", 1, round_ + 1)
        after = operating(db, pw)
        assert after.balance == before.balance - 20_000_00  # debited once
        assert after.held == before.held == 0  # held once, released once
        consistent(db)


def test_the_two_approvals_a_panel_needs_arriving_at_once_post_it_once(
    client, app, db, pw, clock, live_server
):
    """Two approvals needed (one from A), A and B at the same instant: both count, one after
    the other, and the second posts the payment: once, with both approvals."""
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    a = bearer(app, pw.world.users["acme-approver-a"], clock)
    b = bearer(app, pw.world.users["acme-approver-b"], clock)
    for round_ in range(ROUNDS):
        before = operating(db, pw)
        payment = pay(client, payer, pw, 150_000_00)
        answers = at_once(live_server, [approve(payment["id"], a), approve(payment["id"], b)])
        assert sorted(r.status_code for r in answers) == [201, 202], [r.text for r in answers]
        last = next(r.json() for r in answers if r.status_code == 201)
        assert last["status"] == "sent" and len(last["approvals"]) == 2
        posted, approvals = payment_row(db, payment["id"])
        assert (posted.status, approvals, postings(db)) == ("sent", 2, round_ + 1)
        after = operating(db, pw)
        assert after.balance == before.balance - 150_000_00
        assert after.held == 0
        consistent(db)


def test_twenty_payments_at_once_against_a_daily_limit_count_while_they_wait(
    client, app, db, pw, clock, live_server
):
    """Twenty payments of 15,000.00 EUR, each waiting for an approval, against a daily limit
    of 100,000.00 EUR: a pending payment counts against the limit when it is made, under the
    payer's lock, so exactly six are accepted, whatever the interleaving."""
    admin = bearer(app, pw.world.users["acme-admin"], clock)
    payer_grant = pw.world.grants["acme-payer"]
    assert client.delete(f"/v1/grants/{payer_grant.id}", headers=admin).status_code == 200
    limited = client.post(
        "/v1/grants",
        json={
            "user_id": pw.world.user_id("acme-payer"),
            "role_id": payer_grant.role_id,
            "limits": {"currency": "EUR", "daily": 100_000_00},
        },
        headers=admin,
    )
    assert limited.status_code == 201, limited.text
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    body = {
        "account_id": pw.world.account_id("acme-operating"),
        "beneficiary_id": pw.beneficiary_id("supplier"),
        "amount": 15_000_00,
        "currency": "EUR",
    }

    answers = at_once(live_server, [create(body, payer)] * 20)
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {202: 100_000_00 // 15_000_00, 403: 20 - 6}, [r.text for r in answers]
    assert {r.json()["error"] for r in answers if r.status_code == 403} == {"limit_daily"}
    assert {r.json()["status"] for r in answers if r.status_code == 202} == {"pending_approval"}
    assert operating(db, pw).held == 6 * 15_000_00
    with db.unit_of_work(write=False) as session:
        state = assert_payments_consistent(session)
    spent = {k: v for k, v in state.grant_spend.items() if k[0] == limited.json()["id"]}
    assert list(spent.values()) == [6 * 15_000_00], spent
    consistent(db)


def test_an_approval_racing_a_cancellation_has_one_outcome(client, app, db, pw, clock, live_server):
    """The initiator cancels while an approver gives the last approval: the payment is posted
    or cancelled, never both, and a cancelled payment moved no money."""
    payer = bearer(app, pw.world.users["acme-payer"], clock)
    a = bearer(app, pw.world.users["acme-approver-a"], clock)
    seen: Counter[str] = Counter()
    for _ in range(ROUNDS * 2):
        before = operating(db, pw)
        postings_before = postings(db)
        payment = pay(client, payer, pw, 20_000_00)

        approved, cancelled = at_once(
            live_server, [approve(payment["id"], a), cancel(payment["id"], payer)]
        )
        ended, _approvals = payment_row(db, payment["id"])
        transfers = postings(db) - postings_before
        after = operating(db, pw)
        assert after.held == 0
        if approved.status_code == 201:
            assert cancelled.status_code == 403, cancelled.text
            assert cancelled.json()["error"] == "payment_not_pending"
            assert (ended.status, transfers) == ("sent", 1)
            assert after.balance == before.balance - 20_000_00
        else:
            assert approved.status_code == 403, approved.text
            assert approved.json()["error"] == "payment_not_pending"
            assert cancelled.status_code == 200, cancelled.text
            assert (ended.status, ended.transfer_id, transfers) == ("cancelled", None, 0)
            assert after.balance == before.balance  # no money moved
        seen[ended.status] += 1
        consistent(db)
    assert sum(seen.values()) == ROUNDS * 2, seen


def test_a_lapsed_payment_decided_while_a_new_payment_releases_it(
    client, app, db, pw, clock, live_server, monkeypatch
):
    """A new payment releases its account's lapsed payment while someone approves or cancels
    it: each decision is refused payment_not_pending, the lapsed payment is expired, and the
    new one, which only fits once the lapsed hold is gone (60,000.00 EUR of 100,000.00, twice),
    is made; no deadlock happens at all.

    Regressions: the new payment locked its accounts and then the lapsed payments, a decision
    a payment and then its accounts, and the two deadlocked (the database broke it after a
    second and the unit of work ran the loser again). Skipping a lapsed payment another
    transaction held avoided the cycle but kept its hold: the new payment was refused 422
    insufficient_available beside a payment everyone is shown as expired."""
    deadlocks: list[BaseException] = []

    def counting(exc: BaseException) -> bool:
        if sqlstate(exc) == "40P01":
            deadlocks.append(exc)
        return is_retryable(exc)

    monkeypatch.setattr(uow, "is_retryable", counting)  # the live server runs in this process
    for _ in range(ROUNDS):
        payer = bearer(app, pw.world.users["acme-payer"], clock)
        lapsed = pay(client, payer, pw, 60_000_00, "acme-payroll")
        clock.advance(days=7, hours=1)
        payer = bearer(app, pw.world.users["acme-payer"], clock)
        a = bearer(app, pw.world.users["acme-approver-a"], clock)
        body = {
            "account_id": pw.world.account_id("acme-payroll"),
            "beneficiary_id": pw.beneficiary_id("supplier"),
            "amount": 60_000_00,
            "currency": "EUR",
        }
        made, approved, cancelled = at_once(
            live_server,
            [create(body, payer), approve(lapsed["id"], a), cancel(lapsed["id"], payer)],
        )
        assert made.status_code == 202, made.text
        for refused in (approved, cancelled):
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"] == "payment_not_pending", refused.text
        ended, _approvals = payment_row(db, lapsed["id"])
        assert ended.status == "expired"
        with db.unit_of_work(write=False) as session:
            payroll = session.get(Account, pw.world.account_id("acme-payroll"))
            assert payroll is not None and (payroll.balance, payroll.held) == (
                100_000_00,
                60_000_00,
            )
        consistent(db)
        # The new one lapses in its turn, released by the command.
        clock.advance(days=7, hours=1)
        assert unit_of_work(db, clock).run(payments.expire_payments) == 1
    assert deadlocks == []
