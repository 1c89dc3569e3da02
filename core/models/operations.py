"""Tables of operating Mandate: the maintenance windows its bank managers schedule and its
operators switch on in an emergency (core.operations holds the rules that read them)."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from core.clock import utcnow
from core.db import UTCDateTime


class MaintenanceWindow(SQLModel, table=True):
    """A time during which the platform refuses writes (mode "read_only") or everything but
    its health and status (mode "full"). Scheduled by a bank manager (bank_id, scheduled_by)
    or switched on by an operator with `mandate maintenance start` (both None: the
    deployment's own, ended with `mandate maintenance stop`). Never deleted: cancelling one,
    or ending it early, sets cancelled_at, so the record of what was announced stays."""

    __tablename__ = "maintenance_windows"

    id: int | None = Field(default=None, primary_key=True)
    bank_id: int | None = Field(default=None, foreign_key="banks.id", index=True)
    starts_at: dt.datetime = Field(sa_type=UTCDateTime)
    # None: until an operator stops it (an emergency switch without --until).
    ends_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    mode: str = Field(max_length=16)
    message: str = Field(max_length=500)
    scheduled_by: int | None = Field(default=None, foreign_key="users.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    cancelled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_by: int | None = Field(default=None, foreign_key="users.id")
