"""ASGI middleware: request size and nesting limits, and security headers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from api.errors import error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """True if the JSON text nests arrays/objects deeper than `limit` (strings skipped).
    Checked before parsing, so a hostile body never reaches the recursive parser."""
    depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


class BodyLimits:
    """Refuses bodies over MAX_BODY_BYTES (413) and JSON nested deeper than MAX_JSON_DEPTH
    (400), quickly and without buffering more than the limit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await _reject(
                scope,
                receive,
                send,
                413,
                "payload_too_large",
                f"request bodies are at most {MAX_BODY_BYTES} bytes",
            )
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _reject(
                    scope,
                    receive,
                    send,
                    413,
                    "payload_too_large",
                    f"request bodies are at most {MAX_BODY_BYTES} bytes",
                )
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"json" in headers.get(b"content-type", b"") and json_depth_exceeds(
            body, MAX_JSON_DEPTH
        ):
            await _reject(
                scope,
                receive,
                send,
                400,
                "malformed_json",
                f"JSON may nest at most {MAX_JSON_DEPTH} levels",
            )
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _reject(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, detail: str
) -> None:
    response = error_response(status, code, detail, {"Connection": "close"})
    await response(scope, receive, send)


DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """Headers every response carries. The console and API load nothing from elsewhere; the
    API docs page needs its inline start-up script."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        script = "'self' 'unsafe-inline'" if path.startswith(DOCS_PATHS) else "'self'"
        csp = (
            f"default-src 'self'; script-src {script}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
        extra = [
            (b"content-security-policy", csp.encode()),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-content-type-options", b"nosniff"),
        ]
        if path.startswith("/v1"):
            extra.append((b"cache-control", b"no-store"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


RETRY_HEADER = b"x-mandate-retryable"
RETRY_ATTEMPTS = 4
FINAL_ATTEMPT = "mandate.final_attempt"


class RetryOnContention:
    """Runs a request's whole unit of work again when it failed only because of contention
    (a deadlock, a serialization failure, SQLite busy): the failed attempt rolled back
    completely, so running it again is safe. Bounded: after RETRY_ATTEMPTS the caller gets
    the 503 contention answer, with Retry-After."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)

        for attempt in range(1, RETRY_ATTEMPTS + 1):
            final = attempt == RETRY_ATTEMPTS
            if not await self._attempt(scope, body, receive, send, final=final):
                return
            await asyncio.sleep(random.uniform(0.002, 0.01) * 2**attempt)

    async def _attempt(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, *, final: bool
    ) -> bool:
        """Run the app once; True if it failed with contention and should run again."""
        scope[FINAL_ATTEMPT] = final
        retry = False
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def guarded_send(message: Message) -> None:
            nonlocal retry
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if any(name == RETRY_HEADER for name, _ in headers) and not final:
                    retry = True
                    return
                message["headers"] = [(n, v) for n, v in headers if n != RETRY_HEADER]
            if not retry:
                await send(message)

        await self.app(scope, replay, guarded_send)
        return retry
