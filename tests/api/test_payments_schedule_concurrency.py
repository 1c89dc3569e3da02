"""Scheduled payments under real concurrency (PostgreSQL: the row locks are what is tested;
SQLite runs one writer at a time): on its day a scheduled payment's execution racing its
cancellation has one outcome, and two runs of `mandate payments run` at once post it once.
Each race starts its units of work together at a barrier and is run a few rounds."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.context import RequestContext
from core.errors import MandateError
from core.models.iam import actor_of
from core.payments import service as payments
from core.payments.schemas import PaymentCreate, PaymentEnd
from core.uow import UnitOfWork
from tests.api.test_payments_concurrency import consistent, operating, payment_row, postings
from tests.factories import new_key
from tests.payments_world import PaymentsWorld, build_payments_world

ROUNDS = 4
AMOUNT = 700_00  # needs no approval: scheduled at once for its day


@pytest.fixture
def pw(backend, app, db, world, clock) -> PaymentsWorld:  # type: ignore[no-untyped-def]
    if backend != "postgresql":
        pytest.skip("row locks under real concurrency: PostgreSQL only")
    return build_payments_world(db, app.state.services.passwords, world, clock)


def _as(db, clock, user) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    def run(work, *args):  # type: ignore[no-untyped-def]
        actor = None if user is None else actor_of(user)
        return UnitOfWork(db, RequestContext(actor=actor, clock=clock)).run(work, *args)

    return run


def _at_once(works: list[Callable[[], Any]]) -> list[Any]:
    """Run the works together from a barrier; each answers its result or its refusal."""
    barrier = threading.Barrier(len(works))

    def go(work: Callable[[], Any]) -> Any:
        barrier.wait(timeout=30)
        try:
            return work()
        except MandateError as refusal:
            return refusal

    with ThreadPoolExecutor(len(works)) as pool:
        return list(pool.map(go, works))


def _scheduled_for_tomorrow(db, clock, pw: PaymentsWorld) -> int:  # type: ignore[no-untyped-def]
    tomorrow = clock.now().astimezone(ZoneInfo("Europe/Berlin")).date() + dt.timedelta(days=1)
    body = PaymentCreate(
        account_id=pw.world.account_id("acme-operating"),
        beneficiary_id=pw.beneficiary_id("supplier"),
        amount=AMOUNT,
        currency="EUR",
        execution_date=tomorrow,
    )
    made = _as(db, clock, pw.world.users["acme-payer"])(payments.create_payment, body, new_key())
    assert made.payment.status == "scheduled", made.payment
    return made.payment.id  # type: ignore[no-any-return]


def test_execution_racing_cancellation_has_one_outcome(db, pw, clock):
    payer = _as(db, clock, pw.world.users["acme-payer"])
    runner = _as(db, clock, None)
    seen: Counter[str] = Counter()
    for _ in range(ROUNDS * 2):
        payment_id = _scheduled_for_tomorrow(db, clock, pw)
        before, postings_before = operating(db, pw), postings(db)
        clock.advance(days=1)
        ran, cancelled = _at_once(
            [
                lambda: runner(payments.run_payments),
                lambda pid=payment_id: payer(payments.cancel_payment, pid, PaymentEnd(reason="")),
            ]
        )
        ended, _ = payment_row(db, payment_id)
        after, moved = operating(db, pw), postings(db) - postings_before
        assert after.held == before.held - AMOUNT
        if isinstance(cancelled, MandateError):
            assert cancelled.code == "payment_not_pending", cancelled
            assert (ran.executed, ended.status, moved) == (1, "sent", 1)
            assert after.balance == before.balance - AMOUNT
        else:
            assert cancelled.status == "cancelled"
            assert (ran.executed, ended.status, ended.transfer_id, moved) == (
                0,
                "cancelled",
                None,
                0,
            )
            assert after.balance == before.balance
        seen[ended.status] += 1
        consistent(db)
    assert sum(seen.values()) == ROUNDS * 2, seen


def test_a_get_on_its_day_racing_cancellation_has_one_outcome(db, pw, clock):
    """The lazy execution (a GET of the payment) takes the same locks as the run."""
    payer = _as(db, clock, pw.world.users["acme-payer"])
    for _ in range(ROUNDS):
        payment_id = _scheduled_for_tomorrow(db, clock, pw)
        postings_before = postings(db)
        clock.advance(days=1)
        shown, cancelled = _at_once(
            [
                lambda pid=payment_id: payer(payments.get_payment, pid),
                lambda pid=payment_id: payer(payments.cancel_payment, pid, PaymentEnd(reason="")),
            ]
        )
        ended, _ = payment_row(db, payment_id)
        moved = postings(db) - postings_before
        if isinstance(cancelled, MandateError):
            assert (shown.status, ended.status, moved) == ("sent", "sent", 1)
        else:
            assert (ended.status, moved) == ("cancelled", 0)
            assert shown.status in ("scheduled", "cancelled")
        consistent(db)


def test_two_runs_at_once_post_each_due_payment_once(db, pw, clock):
    runner = _as(db, clock, None)
    for _ in range(ROUNDS):
        ids = [_scheduled_for_tomorrow(db, clock, pw) for _ in range(3)]
        postings_before = postings(db)
        clock.advance(days=1)
        first, second = _at_once([lambda: runner(payments.run_payments)] * 2)
        assert first.executed + second.executed == 3, (first, second)
        assert postings(db) - postings_before == 3
        assert {payment_row(db, i)[0].status for i in ids} == {"sent"}
        consistent(db)
