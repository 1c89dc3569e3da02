"""What operators see of each request: a request id (the caller's X-Request-ID when it is a
sane one, else a new one; echoed on the answer), one log line (core.logs: JSON in
production) and the request's place in the metrics (core.metrics), served at /metrics.

The log line names the route's template, never the path's ids, the query, headers or body;
who asked by id (user id, tenant id), never by name. /metrics is for the operators' scraper:
answered to an address of MANDATE_METRICS_ALLOW (default: this host only) or to a bearer of
MANDATE_METRICS_TOKEN; anyone else finds nothing there (404)."""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

from api.errors import error_response
from core import metrics
from core.db import Database

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("mandate.requests")

REQUEST_ID_HEADER = "X-Request-ID"
# What a caller's own request id may be: short, and nothing a log reader could mistake for
# another field or line.
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})
# The route label of a request no route answered (refused before routing, or no such path).
UNROUTED = "unrouted"


def request_id_of(scope: Scope) -> str:
    """The request's id: the caller's X-Request-ID if sane, else a new one."""
    for name, value in scope.get("headers") or []:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE_ID.match(text):
                return text
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The template of the route that answered (/v1/accounts/{account_id}; a console page
    with its mount's prefix), or UNROUTED."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        # A plain route (/metrics, /docs: no parameters) names no route, only its endpoint.
        return str(scope.get("path", UNROUTED)) if "endpoint" in scope else UNROUTED
    root = scope.get("root_path", "")
    return path if not root or path.startswith(root) else f"{root}{path}"


class RequestTelemetry:
    """Outermost: the request id, the log line and the metrics of every request, whatever
    answered it (a route, a size limit, a maintenance window, an unexpected error)."""

    def __init__(self, app: ASGIApp, *, db: Database) -> None:
        self.app = app
        self.db = db

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [h for h in message.get("headers", []) if h[0] != b"x-request-id"]
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = route_template(scope)
        method = scope.get("method", "")
        # A label's values are few: a method a client invents is OTHER, not a new series.
        label = method if method in _METHODS else "OTHER"
        metrics.HTTP_REQUESTS.labels(label, route, str(status)).observe(seconds)
        pool = self.db.engine.pool
        if hasattr(pool, "checkedout") and hasattr(pool, "overflow"):
            metrics.POOL_IN_USE.set(pool.checkedout())
            metrics.POOL_OVERFLOW.set(pool.overflow())
        fields: dict[str, Any] = {
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        ctx = (scope.get("state") or {}).get("ctx")
        actor = getattr(ctx, "actor", None)
        if actor is not None:
            fields.update(actor_id=actor.user_id, actor_kind=actor.kind, tenant_id=actor.tenant_id)
        refused = [d for d in getattr(getattr(ctx, "audit", None), "decisions", []) if d.reason]
        if refused:
            fields["reason"] = refused[-1].reason
        log.info("request", extra=fields)


def metrics_answer(request: Request) -> Response:
    """GET /metrics: every worker's metrics (multiprocess mode), or this process's."""
    settings = request.app.state.services.settings
    if not _may_scrape(request, settings.metrics_allow, settings.metrics_token):
        return error_response(404, "not_found", "not found")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _may_scrape(request: Request, allowed: list[str], token: Any) -> bool:
    address = request.client.host if request.client else ""
    if address in allowed:
        return True
    if token is None:
        return False
    sent = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    return hmac.compare_digest(sent.encode(), expected.encode())
