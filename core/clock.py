"""Time, injectable: services read the clock from the request context, never datetime.now()."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FixedClock:
    """A clock for tests and what-if questions: it says what it is told."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at = self.at + dt.timedelta(**delta)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# A time window's days as the API names them (index 0 is Monday, as in datetime.weekday()).
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def minutes_of_day(clock_time: str) -> int:
    """'09:30' -> 570; '24:00' (a window's end: the end of the day) -> 1440."""
    hours, minutes = clock_time.split(":")
    return int(hours) * 60 + int(minutes)


def clock_time(minutes: int) -> str:
    """570 -> '09:30': minutes after midnight as HH:MM (minutes_of_day the other way)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
