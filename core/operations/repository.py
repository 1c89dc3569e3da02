"""Queries of maintenance windows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlmodel import col

from core.models.operations import MaintenanceWindow
from core.operations.windows import Mode, Window

# Windows over longer ago than this are not held in memory by the processes (the API lists
# them all to staff).
KEPT_IN_MIND = dt.timedelta(days=1)


def window_of(row: MaintenanceWindow) -> Window:
    assert row.id is not None
    return Window(
        id=row.id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        mode=Mode(row.mode),
        message=row.message,
        cancelled_at=row.cancelled_at,
    )


def current_and_coming(connection: Connection | Session, now: dt.datetime) -> list[Window]:
    """Every window not over by `now` less a day: what a process holds (a few rows)."""
    since = now - KEPT_IN_MIND
    table = MaintenanceWindow.__table__  # type: ignore[attr-defined]
    rows = connection.execute(
        select(table).where(
            or_(table.c.ends_at.is_(None), table.c.ends_at > since),
            or_(table.c.cancelled_at.is_(None), table.c.cancelled_at > since),
        )
    ).mappings()
    return [window_of(MaintenanceWindow(**row)) for row in rows]


def windows_of_bank(session: Session, bank_id: int) -> Sequence[MaintenanceWindow]:
    """A bank's windows, latest start first."""
    return session.scalars(
        select(MaintenanceWindow)
        .where(col(MaintenanceWindow.bank_id) == bank_id)
        .order_by(col(MaintenanceWindow.starts_at).desc(), col(MaintenanceWindow.id).desc())
    ).all()


def window(session: Session, window_id: int, *, lock: bool = False) -> MaintenanceWindow | None:
    query = select(MaintenanceWindow).where(col(MaintenanceWindow.id) == window_id)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def in_force_rows(session: Session, now: dt.datetime) -> list[MaintenanceWindow]:
    """The windows in force at `now`, locked (an operator stops them)."""
    rows = session.scalars(
        select(MaintenanceWindow)
        .where(col(MaintenanceWindow.starts_at) <= now)
        .order_by(col(MaintenanceWindow.id))
        .with_for_update()
    ).all()
    return [row for row in rows if window_of(row).in_force(now)]
