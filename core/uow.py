"""The unit of work: one transaction, its audit trail, and its retries on contention.

A caller (an API route, a console page, a CLI command, a test) hands it the work, a service
function taking (session, ctx, ...). It runs the work in a fresh transaction, writes the
audit trail with the commit, and commits. If the work fails, it rolls back and records the
failure in a short transaction of its own. If it failed only because of contention (a
deadlock, a serialization failure, SQLite busy), nothing of it was kept, so it runs it again
from the start with a fresh trail, a bounded number of times; only the last attempt, if it
fails too, is the caller's to see in their activity."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy.orm import Session

from core import metrics
from core.audit.service import write_trail
from core.context import RequestContext
from core.db import Database, backoff, describe_error, is_retryable

log = logging.getLogger("mandate.uow")

P = ParamSpec("P")
T = TypeVar("T")

# Attempts in all before the caller gets 503 contention (core.db.backoff says how long
# each wait is).
RETRY_ATTEMPTS = 4


class UnitOfWork:
    """One request's or command's work against the database, for the caller `ctx`.

    `write` chooses a write transaction (on SQLite, BEGIN IMMEDIATE: the write lock from the
    first statement) or a read. `status_code` and `action` are what the trail records for a
    success: the face that runs the work chooses them (a route's status, its name)."""

    def __init__(
        self,
        db: Database,
        ctx: RequestContext,
        *,
        write: bool = True,
        status_code: int = 200,
        action: str | None = None,
        attempts: int = RETRY_ATTEMPTS,
    ) -> None:
        self.db = db
        self.ctx = ctx
        self.write = write
        self.status_code = status_code
        self.action = action
        self.attempts = attempts
        # Whether a run has ended, committed or recorded as failed: a failure the face sees
        # afterwards (the same one, re-raised) is not recorded twice.
        self.settled = False
        self._opened: Session | None = None

    def opened(self) -> Session:
        """The first attempt's session, opened ahead of the work: to read who is asking in
        the same transaction (one connection, one BEGIN). `close` closes it if no work ran."""
        if self._opened is None:
            self._opened = self.db.session(write=self.write)
        return self._opened

    def close(self) -> None:
        """Close a session opened ahead that no work used (a request refused before its
        route ran): its transaction, if any, rolls back."""
        if self._opened is not None:
            self._opened.close()
            self._opened = None

    def run(
        self,
        work: Callable[Concatenate[Session, RequestContext, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """work(session, ctx, *args, **kwargs) in a transaction of its own, committed with
        its audit trail; run again on contention, up to `attempts` times in all."""
        self.settled = False
        caller = self.ctx.actor
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                self.ctx.new_attempt(caller)
            session = self._opened or self.db.session(write=self.write)
            self._opened = None
            try:
                result = work(session, self.ctx, *args, **kwargs)
                if self.write or not self.db.is_sqlite:
                    write_trail(
                        session, self.ctx, status_code=self.status_code, fallback_action=self.action
                    )
                    session.commit()
                else:
                    session.commit()
                    self._write_trail_apart()
            except BaseException as exc:
                session.rollback()
                if attempt < self.attempts and is_retryable(exc):
                    metrics.CONTENTION_RETRIES.inc()
                    time.sleep(backoff(attempt))
                    continue
                self.fail(*describe_error(exc))
                raise
            finally:
                session.close()
            self.settled = True
            _count_committed(self.ctx)
            return result
        raise AssertionError("unreachable")

    def _write_trail_apart(self) -> None:
        """A read's trail (a logged read's decision), on SQLite: in a write transaction of
        its own. Written in the read's, it would make the read a writer whose snapshot is too
        old to write as soon as another transaction committed meanwhile ("database is
        locked" at once, however long the busy timeout)."""
        audit = self.ctx.audit
        if not (audit.decisions or audit.changes or audit.activity):
            return
        with self.db.unit_of_work(write=True) as session:
            write_trail(
                session, self.ctx, status_code=self.status_code, fallback_action=self.action
            )

    @contextmanager
    def guarded(self, describe: Callable[[BaseException], tuple[int, str, str]]) -> Iterator[None]:
        """Around a face's use of this unit of work (a request): a failure outside its runs (a
        parameter, the caller's token, an expired form), described by the face as (status,
        code, detail), is recorded; a session opened ahead and never used is closed."""
        try:
            yield
        except BaseException as exc:
            self.fail(*describe(exc))
            raise
        finally:
            self.close()

    def fail(self, status: int, code: str, detail: str) -> None:
        """Record that the work failed with (status, code, detail), in a transaction of its
        own: refusals (4xx) and the last attempt lost to contention. Nothing is recorded
        twice, nor for a work that already ended."""
        if self.settled:
            return
        self.settled = True
        if not (status < 500 or code == "contention"):
            return
        if self.ctx.actor is None and not self.ctx.audit.decisions:
            return
        try:
            with self.db.unit_of_work(write=True) as session:
                write_trail(
                    session,
                    self.ctx,
                    status_code=status,
                    error_code=code,
                    detail=detail,
                    fallback_action=self.action,
                )
        except Exception:  # the original error is what the caller must see
            log.exception("could not record a failed unit of work's audit trail")


def _count_committed(ctx: RequestContext) -> None:
    """What a committed unit of work did, in the operators' metrics (core.metrics): the
    transfer it posted, the payments' steps it took, an answer replayed from its key. Counted
    after the commit, so work rolled back (refused, or run again) is never counted."""
    activity = ctx.audit.activity
    if activity is not None and activity.replayed:
        metrics.IDEMPOTENT_REPLAYS.inc()
    elif activity is not None and activity.transfer_id is not None:
        metrics.MONEY_MOVEMENTS.labels(activity.action).inc()
    for step in ctx.audit.steps:
        metrics.PAYMENT_STEPS.labels(step.action).inc()
