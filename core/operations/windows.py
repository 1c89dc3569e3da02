"""What a maintenance window means at an instant: pure rules, no database.

A window is in force from its start until the earlier of its end and its cancellation (an
emergency switch without an end: until an operator stops it). Customers are told of it from
`notice` before it starts. When two are in force, the stricter one ("full" over "read_only")
is the one requests meet; its end is what Retry-After names."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    # Writes answer 503; reads, statements, explanations and decisions go on.
    read_only = "read_only"
    # Everything answers 503 but health, status and metrics.
    full = "full"


# What Retry-After says of a window without an end (an emergency switch without --until):
# a client asks again in a couple of minutes rather than never.
OPEN_ENDED_RETRY_SECONDS = 120


@dataclass(frozen=True)
class Window:
    """A maintenance window as every process holds it (core.operations.schedule)."""

    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    mode: Mode
    message: str
    cancelled_at: dt.datetime | None = None

    @property
    def over_at(self) -> dt.datetime | None:
        """When it stops being in force: its end, or its cancellation if earlier."""
        ends = [t for t in (self.ends_at, self.cancelled_at) if t is not None]
        return min(ends) if ends else None

    def in_force(self, now: dt.datetime) -> bool:
        over = self.over_at
        return self.starts_at <= now and (over is None or now < over)

    def ahead(self, now: dt.datetime) -> bool:
        """Still to come and not cancelled (as of `now`)."""
        return now < self.starts_at and (self.cancelled_at is None or self.cancelled_at > now)

    def retry_after(self, now: dt.datetime) -> int:
        """Seconds from `now` to its end, rounded up, at least 1."""
        over = self.over_at
        if over is None:
            return OPEN_ENDED_RETRY_SECONDS
        return max(1, math.ceil((over - now).total_seconds()))

    def header(self) -> str:
        """The Mandate-Maintenance header naming it: `start=…; end=…; mode=…` (no end: until
        stopped)."""
        parts = [f"start={_instant(self.starts_at)}"]
        if self.over_at is not None:
            parts.append(f"end={_instant(self.over_at)}")
        parts.append(f"mode={self.mode.value}")
        return "; ".join(parts)


def _instant(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Outlook:
    """What the schedule says at one instant: the window in force (if any) and the ones
    announced (starting within the notice period), soonest first."""

    current: Window | None
    upcoming: tuple[Window, ...]

    @property
    def next(self) -> Window | None:
        """The window to name: the one in force, else the soonest announced."""
        return self.current or (self.upcoming[0] if self.upcoming else None)

    @property
    def read_only(self) -> bool:
        """Whether writes are refused now (in either mode)."""
        return self.current is not None

    @property
    def full(self) -> bool:
        return self.current is not None and self.current.mode is Mode.full

    @property
    def status(self) -> str:
        """ "operational", "read_only" or "maintenance" (a full window)."""
        if self.current is None:
            return "operational"
        return "maintenance" if self.full else "read_only"


def outlook(windows: Iterable[Window], now: dt.datetime, notice: dt.timedelta) -> Outlook:
    """The outlook at `now` of these windows, announced `notice` before they start."""
    windows = list(windows)
    in_force = [w for w in windows if w.in_force(now)]
    # The stricter mode first; of the same mode, the one lasting longest (what Retry-After
    # must cover), open-ended ones longest of all.
    in_force.sort(key=lambda w: (w.mode is not Mode.full, -_seconds_left(w, now)))
    upcoming = sorted(
        (w for w in windows if w.ahead(now) and w.starts_at - now <= notice),
        key=lambda w: (w.starts_at, w.id),
    )
    return Outlook(in_force[0] if in_force else None, tuple(upcoming))


def _seconds_left(window: Window, now: dt.datetime) -> float:
    over = window.over_at
    return math.inf if over is None else (over - now).total_seconds()
