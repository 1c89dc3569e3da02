"""Checkpoints taken while Mandate serves: a thread per API process signs, every interval
(MANDATE_AUDIT_CHECKPOINT_SECONDS, a minute by default), the head of every chain that moved.

Every worker process runs one; they do not each sign a checkpoint per interval, because the
take decides under the chains' head locks whether the newest checkpoint is an interval old
(core.audit.checkpoints.take_checkpoints): whichever worker comes first in an interval signs,
the others find its checkpoints. A failure (the database away, a failover under way) is
logged and the thread goes on: the next interval takes what this one missed."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from core.audit.checkpoints import AuditKey, take_checkpoints
from core.clock import Clock
from core.db import Database

log = logging.getLogger("mandate.audit.checkpoints")


class PeriodicCheckpoints:
    """Signs the moved chains' heads every `every_seconds` in a thread of this process."""

    def __init__(
        self,
        db: Database,
        key: AuditKey,
        clock: Clock,
        *,
        every_seconds: int,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.db = db
        self.key = key
        self.clock = clock
        self.every = dt.timedelta(seconds=every_seconds)
        self._stop = threading.Event()
        # Waits an interval, true once stopped; tests hand in one that moves their clock.
        self._wait = wait or self._stop.wait
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="audit-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run(self) -> None:
        """Take, then wait an interval, until stopped."""
        while True:
            self.take()
            if self._wait(self.every.total_seconds()):
                return

    def take(self) -> int:
        """The checkpoints due now, in their own transaction; how many were signed. A failure
        is logged, never raised (the process serves on; the next interval tries again)."""
        try:
            return self.db.run(
                lambda session: len(
                    take_checkpoints(session, self.key, self.clock.now(), every=self.every)
                )
            )
        except Exception as exc:
            log.warning("periodic audit checkpoint failed: %s", type(exc).__name__)
            return 0
