"""The unit of work runs its work again when it failed only because of contention, each
attempt from the start with a fresh audit trail; refusals are not run again; only the last
failed attempt is recorded."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy.exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import Conflict, TooManyRequests
from core.models.audit import ActivityRecord
from core.uow import RETRY_ATTEMPTS, UnitOfWork
from tests.factories import staff_context


def _deadlock() -> sqlalchemy.exc.OperationalError:
    orig = psycopg.errors.DeadlockDetected("deadlock detected")
    return sqlalchemy.exc.OperationalError("UPDATE accounts ...", {}, orig)


def _activity(db, user_id: int) -> list[ActivityRecord]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as session:
        rows = session.scalars(select(ActivityRecord).where(ActivityRecord.user_id == user_id))
        return list(rows)


def _unit(db, clock) -> UnitOfWork:  # type: ignore[no-untyped-def]
    return UnitOfWork(db, staff_context(db, "manager", clock), status_code=201)


def test_contention_runs_the_work_again_and_records_one_success(db, world, clock):
    uow = _unit(db, clock)
    # The trails themselves, kept alive: the id of a collected object may be reused.
    trails: list[object] = []

    def work(session: Session, ctx: RequestContext, answer: str) -> str:
        trails.append(ctx.audit)
        ctx.audit.attempt("test.work", target="again")
        if len(trails) <= 2:
            raise _deadlock()
        return answer

    assert uow.run(work, "done") == "done"
    assert len(trails) == 3 and len({id(t) for t in trails}) == 3  # a fresh trail each attempt
    [record] = _activity(db, world.user_id("manager"))
    assert (record.action, record.outcome, record.status_code) == ("test.work", "succeeded", 201)


def test_endless_contention_is_recorded_once_then_raised(db, world, clock):
    uow = _unit(db, clock)
    calls = []

    def work(session: Session, ctx: RequestContext) -> None:
        calls.append(1)
        ctx.audit.attempt("test.work")
        raise _deadlock()

    with pytest.raises(sqlalchemy.exc.OperationalError):
        uow.run(work)
    assert len(calls) == RETRY_ATTEMPTS
    uow.fail(503, "contention", "again")  # the face's own handler: already recorded
    [record] = _activity(db, world.user_id("manager"))
    assert (record.outcome, record.status_code, record.error_code) == (
        "failed",
        503,
        "contention",
    )


def test_a_refusal_is_rolled_back_recorded_and_not_run_again(db, world, clock):
    uow = _unit(db, clock)
    calls = []

    def work(session: Session, ctx: RequestContext) -> None:
        calls.append(1)
        ctx.audit.attempt("test.work")
        raise Conflict("no")

    with pytest.raises(Conflict):
        uow.run(work)
    assert len(calls) == 1
    [record] = _activity(db, world.user_id("manager"))
    assert (record.outcome, record.status_code, record.error_code) == ("failed", 409, "conflict")


def test_a_retry_starts_from_the_caller_the_work_began_with(db, world, clock):
    """A work that found who was asking (a console sign-in) and then lost to contention
    kept nothing: the next attempt starts with no caller, so a refusal then is recorded
    against nobody, not against a sign-in that never committed."""
    uow = UnitOfWork(db, RequestContext(actor=None, clock=clock))
    signed_in = staff_context(db, "manager", clock).actor
    callers = []

    def work(session: Session, ctx: RequestContext) -> None:
        callers.append(ctx.actor)
        if len(callers) == 1:
            ctx.actor = signed_in
            raise _deadlock()
        raise TooManyRequests("too many failed sign-ins")

    with pytest.raises(TooManyRequests):
        uow.run(work)
    assert callers == [None, None]
    assert _activity(db, world.user_id("manager")) == []
