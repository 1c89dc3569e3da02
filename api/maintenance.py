"""The maintenance gate: every request meets the maintenance window in force, here, before
any route runs (ASGI middleware around the whole app, the console included).

* read_only: a write (any method but GET, HEAD, OPTIONS) answers 503 `maintenance` with the
  window's message and Retry-After (seconds to its end). Reads, statements, explanations
  and decisions go on. Some writes go on too: signing in and out (people must be able to
  sign in to read; it moves no money and changes no one's rights), questions asked by POST
  that change nothing (a payment preview, a policy version's impact, AuthZEN evaluations),
  and the maintenance windows themselves (a bank manager ends the window early).
* full: everything answers 503 but health, status, metrics and the console's style sheets.

Every API response names the window in force or the next one announced (within
MANDATE_MAINTENANCE_NOTICE_DAYS) in a `Mandate-Maintenance` header. What a process knows of
the windows is at most MANDATE_MAINTENANCE_POLL_SECONDS old (core.operations.schedule)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from api.errors import error_response
from core.operations.windows import Outlook, Window
from core.operations.windows import outlook as windows_outlook
from core.runtime import Services

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# How the console answers a refusal (admin.errors.maintenance_page): a page, not JSON.
ConsoleRefusal = Callable[[Scope, str, dict[str, str]], ASGIApp]

HEADER = "Mandate-Maintenance"
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
# Open during a full window too.
ALWAYS_OPEN = {"/healthz", "/readyz", "/v1/status", "/metrics"}
ALWAYS_OPEN_PREFIXES = ("/console/static/",)
# Writes that go on during a read_only window (see the module's docstring).
OPEN_WRITES = {
    ("POST", "/v1/auth/token"),
    ("POST", "/v1/payment-previews"),
    ("POST", "/console/sign-in"),
    ("POST", "/console/sign-out"),
    # Cutting off a leaked credential cannot wait for a window's end: revoking a token and
    # disabling an API client move no money.
    ("POST", "/v1/auth/revoke"),
}
OPEN_WRITE_PATTERNS = (
    re.compile(r"^/v1/api-clients/[0-9]+/disable$"),
    re.compile(r"^/v1/maintenance-windows(/.*)?$"),
    re.compile(r"^/console/maintenance-windows(/.*)?$"),
    re.compile(r"^/v1/policy/versions/[0-9]+/impact$"),
    re.compile(r"^/console/policy/versions/[0-9]+/impact$"),
    re.compile(r"^/access/v1/"),
)
# The responses that carry the header: the API's.
API_PREFIXES = ("/v1/", "/access/")


def refused(method: str, path: str, outlook: Outlook) -> Window | None:
    """The window that refuses this request, or None if it may go on."""
    window = outlook.current
    if window is None or path in ALWAYS_OPEN or path.startswith(ALWAYS_OPEN_PREFIXES):
        return None
    if outlook.full:
        return window
    if method in READ_METHODS or (method, path) in OPEN_WRITES:
        return None
    if any(pattern.match(path) for pattern in OPEN_WRITE_PATTERNS):
        return None
    return window


class MaintenanceGate:
    """Refuses what the window in force refuses; names the next window on API responses."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        services: Services,
        console_refusal: ConsoleRefusal | None = None,
    ) -> None:
        self.app = app
        # The process's services, read on each request: the schedule, and the clock every
        # other decision of the request is made on.
        self.services = services
        self.console_refusal = console_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        now = self.services.clock.now()
        schedule = self.services.maintenance
        # A read of the database off the event loop (a slow or absent database must not hold
        # every other request up); what is held, at once.
        stale = schedule.stale()
        if stale:
            windows = await anyio.to_thread.run_sync(schedule.windows, now)
        else:
            windows = schedule.windows(now)
        outlook = windows_outlook(windows, now, schedule.notice)
        window = refused(scope.get("method", "GET"), path, outlook)
        if window is not None:
            headers = {"Retry-After": str(window.retry_after(now)), HEADER: window.header()}
            if path.startswith("/console") and self.console_refusal is not None:
                answer = self.console_refusal(scope, window.message, headers)
            else:
                answer = error_response(503, "maintenance", window.message, headers)
            await answer(scope, receive, send)
            return
        named = outlook.next
        if named is None or not path.startswith(API_PREFIXES):
            await self.app(scope, receive, send)
            return
        value = named.header().encode()

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"mandate-maintenance", value)]
            await send(message)

        await self.app(scope, receive, send_with_header)
