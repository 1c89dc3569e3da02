"""The maintenance banner every console page shows: the window in force, or the next one
announced (from MANDATE_MAINTENANCE_NOTICE_DAYS before it starts), as this process knows
them (core.operations.schedule: at most a few seconds old)."""

from __future__ import annotations

from fastapi import Request

from core.operations.windows import Window


def maintenance_window(request: Request) -> tuple[Window, bool] | None:
    """The window to announce, and whether it is in force now; None if there is none."""
    services = getattr(request.app.state, "services", None)
    if services is None:
        return None
    outlook = services.maintenance.outlook(services.clock.now())
    window = outlook.next
    return None if window is None else (window, outlook.current is not None)
