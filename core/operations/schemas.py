"""The shapes of maintenance windows in the API and the console, and of the public status."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from core.fields import PLAIN_TEXT, RequiredInstant
from core.operations.windows import Mode, Window

# A window is planned work, not a way to switch the platform off: at most a week long, and
# scheduled at most a year ahead.
LONGEST_WINDOW = dt.timedelta(days=7)
FURTHEST_AHEAD = dt.timedelta(days=366)


def _in_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


# The API's one rule for times (core.fields), kept in UTC.
Instant = Annotated[RequiredInstant, AfterValidator(_in_utc)]
Message = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500), PLAIN_TEXT
]
WindowStatus = Literal["scheduled", "in_force", "over", "cancelled"]


class MaintenanceWindowCreate(BaseModel):
    """A window to announce: when, in which mode, and what customers are told."""

    model_config = ConfigDict(extra="forbid")

    starts_at: Instant
    ends_at: Instant
    mode: Mode = Field(
        description="read_only: writes answer 503, reads and decisions go on; full: everything "
        "but health, status and metrics answers 503"
    )
    message: Message = Field(examples=["Planned database upgrade; payments resume at 23:00."])


class MaintenanceWindowPublic(BaseModel):
    """A window as bank staff see it."""

    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    mode: Mode
    message: str
    status: WindowStatus
    scheduled_by: int | None
    created_at: dt.datetime
    cancelled_at: dt.datetime | None
    cancelled_by: int | None


class AnnouncedWindow(BaseModel):
    """A window as everyone sees it (GET /v1/status): no one's name or id."""

    starts_at: dt.datetime
    ends_at: dt.datetime | None = Field(description="null: until the operators end it")
    mode: Mode
    message: str

    @classmethod
    def of(cls, window: Window) -> AnnouncedWindow:
        return cls(
            starts_at=window.starts_at,
            ends_at=window.over_at,
            mode=window.mode,
            message=window.message,
        )


class PlatformStatus(BaseModel):
    """Whether Mandate takes writes now, the window in force, and those announced."""

    status: Literal["operational", "read_only", "maintenance"]
    current: AnnouncedWindow | None
    upcoming: list[AnnouncedWindow]
