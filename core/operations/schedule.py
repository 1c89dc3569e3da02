"""What one process knows of the maintenance windows: the few rows not yet over, read again
when they are older than `ttl_seconds` (MANDATE_MAINTENANCE_POLL_SECONDS, at most 5), so
every worker sees a window scheduled, started or stopped anywhere (another worker, the
`mandate maintenance` command) within that time. A change made through this process
forgets what it held at once (`forget`).

A cached read, not LISTEN/NOTIFY as for the policy (core.policy_versions.reload): a window
is known days ahead, and only an emergency switch is urgent; one query per process every
few seconds is cheap, works on SQLite and behind a transaction-pooling PgBouncer alike.

If the database cannot be read, the process keeps what it knew (logged): maintenance must
never be what turns an outage of the database into an outage of the health checks."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from core.clock import Clock
from core.db import Database
from core.operations import repository
from core.operations.windows import Outlook, Window, outlook

log = logging.getLogger("mandate.operations")


class MaintenanceSchedule:
    """The process's copy of the windows; thread-safe (the server's worker threads share it)."""

    def __init__(
        self,
        db: Database,
        *,
        ttl_seconds: float = 2.0,
        notice: dt.timedelta = dt.timedelta(days=7),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds
        self.notice = notice
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._windows: tuple[Window, ...] = ()
        self._read_at: float | None = None
        self._failing = False

    def windows(self, now: dt.datetime) -> tuple[Window, ...]:
        """The windows not yet over, read again if what is held is older than the TTL. One
        caller reads; the others meanwhile go on with what is held, never waiting on the
        database (a health check must answer while it is away)."""
        if self.stale() and self._lock.acquire(blocking=False):
            try:
                at = self.monotonic()
                self._read(now)
                self._read_at = at
            finally:
                self._lock.release()
        return self._windows

    def stale(self) -> bool:
        """Whether the next windows() reads the database (an async caller reads in a thread)."""
        read_at = self._read_at
        return read_at is None or self.monotonic() - read_at >= self.ttl_seconds

    def outlook(self, now: dt.datetime) -> Outlook:
        return outlook(self.windows(now), now, self.notice)

    def in_force(self, clock: Clock) -> bool:
        """Whether a window is in force now: what a request's context carries
        (core.context.RequestContext.read_only)."""
        return self.outlook(clock.now()).read_only

    def forget(self) -> None:
        """Read again on the next request (a change made through this process)."""
        self._read_at = None

    def _read(self, now: dt.datetime) -> None:
        try:
            with self.db.engine.connect() as connection:
                self._windows = tuple(repository.current_and_coming(connection, now))
        except Exception as exc:
            if not self._failing:
                log.warning("cannot read the maintenance windows (%s)", type(exc).__name__)
            self._failing = True
            return
        self._failing = False
