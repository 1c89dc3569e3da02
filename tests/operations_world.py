"""Maintenance windows for tests: one the bank manager announced weeks ahead, and a clock to
put a window in force."""

from __future__ import annotations

import datetime as dt

from core.clock import Clock
from core.db import Database
from core.operations import service
from core.operations.schemas import MaintenanceWindowCreate
from core.operations.windows import Mode
from core.uow import UnitOfWork
from tests.factories import World, staff_context


def schedule(
    db: Database,
    clock: Clock,
    *,
    starts_in: dt.timedelta,
    lasts: dt.timedelta = dt.timedelta(hours=1),
    mode: Mode = Mode.read_only,
    message: str = "Planned database upgrade.",
) -> int:
    """A window the bank manager announced, starting `starts_in` from the clock's now."""
    start = clock.now() + starts_in
    body = MaintenanceWindowCreate(
        starts_at=start, ends_at=start + lasts, mode=mode, message=message
    )
    ctx = staff_context(db, "manager", clock)
    return UnitOfWork(db, ctx).run(service.schedule_window, body).id


def with_maintenance_window(db: Database, world: World, clock: Clock) -> int:
    """A read-only window three weeks ahead (outside the notice period: no header, no banner,
    never in force), its id in world.maintenance_window_id."""
    world.maintenance_window_id = schedule(db, clock, starts_in=dt.timedelta(days=21))
    return world.maintenance_window_id
