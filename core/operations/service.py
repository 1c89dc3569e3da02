"""Maintenance windows: bank managers schedule and cancel them (maintenance_window.manage),
bank staff list them (maintenance_window.read), everyone sees the platform's status; an
operator switches maintenance on and off in an emergency (`mandate maintenance`).

A window is the deployment's: while it is in force every request to this Mandate meets it,
whichever bank scheduled it. Only the bank that scheduled one sees it in its list and may
cancel it; one an operator started is ended by an operator."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core.audit.changes import record_change
from core.context import RequestContext
from core.errors import Conflict, InvalidRequest, NotFound
from core.models.operations import MaintenanceWindow
from core.operations import repository
from core.operations.schemas import (
    FURTHEST_AHEAD,
    LONGEST_WINDOW,
    AnnouncedWindow,
    MaintenanceWindowCreate,
    MaintenanceWindowPublic,
    PlatformStatus,
    WindowStatus,
)
from core.operations.windows import Mode, Outlook, Window
from core.policy.facts import Resource
from core.policy.service import authorize, require_readable

# A start a little in the past (the clocks of the person and the server differ) means now.
START_LEEWAY = dt.timedelta(minutes=5)


def schedule_window(
    session: Session, ctx: RequestContext, body: MaintenanceWindowCreate
) -> MaintenanceWindowPublic:
    """Announce a window of the caller's bank (bank managers)."""
    actor = ctx.require_actor()
    ctx.audit.attempt("maintenance_window.manage", target="a maintenance window")
    resource = Resource.of_bank(actor.bank_id)
    require_readable(session, ctx, "maintenance_window.read", resource, not_found="not found")
    authorize(session, ctx, "maintenance_window.manage", resource)
    now = ctx.now()
    starts_at = _checked_times(body, now)
    row = MaintenanceWindow(
        bank_id=actor.bank_id,
        starts_at=starts_at,
        ends_at=body.ends_at,
        mode=body.mode.value,
        message=body.message,
        scheduled_by=actor.user_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    public = window_public(row, now)
    record_change(ctx, "maintenance_window", public.id, "schedule", None, after=public)
    ctx.audit.done(f"scheduled a {body.mode.value} maintenance window from {_when(starts_at)}")
    return public


def _checked_times(body: MaintenanceWindowCreate, now: dt.datetime) -> dt.datetime:
    if body.starts_at < now - START_LEEWAY:
        raise _invalid("a maintenance window starts now or later", "starts_at")
    if body.starts_at > now + FURTHEST_AHEAD:
        raise _invalid("a maintenance window starts within a year", "starts_at")
    starts_at = max(body.starts_at, now)
    if body.ends_at <= starts_at:
        raise _invalid("a maintenance window ends after it starts", "ends_at")
    if body.ends_at - starts_at > LONGEST_WINDOW:
        raise _invalid("a maintenance window lasts at most 7 days", "ends_at")
    return starts_at


def _invalid(detail: str, field: str) -> InvalidRequest:
    return InvalidRequest(detail, code="invalid_request", field=field)


def list_windows(session: Session, ctx: RequestContext) -> list[MaintenanceWindowPublic]:
    """The caller's bank's windows, latest start first (bank staff)."""
    actor = ctx.require_actor()
    resource = Resource.of_bank(actor.bank_id)
    require_readable(session, ctx, "maintenance_window.read", resource, not_found="not found")
    now = ctx.now()
    return [window_public(row, now) for row in repository.windows_of_bank(session, actor.bank_id)]


def get_window(session: Session, ctx: RequestContext, window_id: int) -> MaintenanceWindowPublic:
    """One window of the caller's bank; another bank's, or an operator's, is not found."""
    return window_public(_readable(session, ctx, window_id), ctx.now())


def cancel_window(session: Session, ctx: RequestContext, window_id: int) -> MaintenanceWindowPublic:
    """Cancel a window still to come, or end one in force now (bank managers)."""
    ctx.audit.attempt("maintenance_window.manage", target=f"maintenance window {window_id}")
    row = _readable(session, ctx, window_id, lock=True)
    assert row.bank_id is not None
    authorize(session, ctx, "maintenance_window.manage", Resource.of_bank(row.bank_id))
    now = ctx.now()
    before = window_public(row, now)
    if before.status in ("over", "cancelled"):
        raise Conflict(
            f"maintenance window {window_id} is {before.status} already",
            code="maintenance_window_over",
        )
    row.cancelled_at = now
    row.cancelled_by = ctx.require_actor().user_id
    session.flush()
    after = window_public(row, now)
    record_change(ctx, "maintenance_window", window_id, "cancel", None, before, after)
    ended = "ended" if before.status == "in_force" else "cancelled"
    ctx.audit.done(f"{ended} maintenance window {window_id}")
    return after


def _readable(
    session: Session, ctx: RequestContext, window_id: int, *, lock: bool = False
) -> MaintenanceWindow:
    actor = ctx.require_actor()
    row = repository.window(session, window_id, lock=lock)
    # A missing window, or an operator's, is decided as one of the caller's bank, then not
    # found; another bank's is refused by the policy (out of reach): not found alike.
    bank_id = row.bank_id if row is not None and row.bank_id is not None else actor.bank_id
    missing = f"maintenance window {window_id} not found"
    resource = Resource.of_bank(bank_id)
    require_readable(session, ctx, "maintenance_window.read", resource, not_found=missing)
    if row is None or row.bank_id is None:
        raise NotFound(missing)
    return row


def status_of(window: Window, now: dt.datetime) -> WindowStatus:
    if window.cancelled_at is not None and window.cancelled_at <= now:
        return "over" if window.starts_at <= window.cancelled_at else "cancelled"
    if window.in_force(now):
        return "in_force"
    return "scheduled" if now < window.starts_at else "over"


def window_public(row: MaintenanceWindow, now: dt.datetime) -> MaintenanceWindowPublic:
    window = repository.window_of(row)
    return MaintenanceWindowPublic(
        id=window.id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        mode=window.mode,
        message=row.message,
        status=status_of(window, now),
        scheduled_by=row.scheduled_by,
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
        cancelled_by=row.cancelled_by,
    )


def platform_status(outlook: Outlook) -> PlatformStatus:
    """What GET /v1/status tells everyone."""
    current = outlook.current
    return PlatformStatus(
        status=outlook.status,
        current=AnnouncedWindow.of(current) if current is not None else None,
        upcoming=[AnnouncedWindow.of(w) for w in outlook.upcoming],
    )


# -- the operators' switch (mandate maintenance start / stop) -------------------------------


def start_emergency(
    session: Session, now: dt.datetime, *, mode: Mode, message: str, until: dt.datetime | None
) -> Window:
    """Switch maintenance on now, until `until` (None: until stopped). An operator's switch
    in force already is ended first: the new one replaces it (another mode, message or end)."""
    if until is not None and until <= now:
        raise InvalidRequest("--until must be later than now", code="invalid_request")
    for row in repository.in_force_rows(session, now):
        if row.bank_id is None:
            row.cancelled_at = now
    row = MaintenanceWindow(
        bank_id=None, starts_at=now, ends_at=until, mode=mode.value, message=message, created_at=now
    )
    session.add(row)
    session.flush()
    return repository.window_of(row)


def stop_maintenance(session: Session, now: dt.datetime) -> list[Window]:
    """End every window in force now, the operators' and the banks' alike; those still to
    come stay scheduled."""
    ended = repository.in_force_rows(session, now)
    for row in ended:
        row.cancelled_at = now
    session.flush()
    return [repository.window_of(row) for row in ended]


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
