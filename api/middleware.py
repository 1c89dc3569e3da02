"""ASGI middleware: request size and nesting limits, security headers, and the answer to an
error nothing else answered. (A request that meets contention is run again by its unit of
work, core.uow, not replayed here.)"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from api.errors import error_response
from core.batches.pain001 import MAX_FILE_BYTES

log = logging.getLogger("mandate.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 64 * 1024
# The requests whose body is a document rather than a form: a proposed policy version
# carries every .polar file of the set (about 50 KB today) and its cases; a payment file
# (pain.001) up to core.batches.pain001.MAX_FILE_BYTES, through the API or the console.
LARGER_BODIES = {
    ("POST", "/v1/policy/versions"): 1024 * 1024,
    ("POST", "/v1/payment-batches"): MAX_FILE_BYTES,
    ("POST", "/console/payment-batches"): MAX_FILE_BYTES + 64 * 1024,
}


def body_limit(scope: Scope) -> int:
    """How many bytes this request's body may carry."""
    return LARGER_BODIES.get((scope.get("method", ""), scope.get("path", "")), MAX_BODY_BYTES)


# Whose bodies are files, not text the app reads field by field.
FILE_UPLOADS = {"/v1/payment-batches", "/console/payment-batches"}

MAX_JSON_DEPTH = 32
# What a request's header fields may amount to (431 beyond). uvicorn's own limit on the
# request head (h11_max_incomplete_event_size in `mandate serve`) sits just above, so that
# the app, not the server, answers with the error shape.
MAX_HEADER_COUNT = 100
MAX_HEADER_BYTES = 32 * 1024


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


class BodyTooLarge(Exception):
    """The body went past MAX_BODY_BYTES while it was being read."""


async def read_body(receive: Receive, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The whole request body, counted as it streams in (a chunked body declares no
    length): raises BodyTooLarge as soon as it passes `limit`, so nothing past the limit is
    ever read or held. None if the client went away."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then the client's own messages
    (a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def headers_exceed(headers: list[tuple[bytes, bytes]]) -> bool:
    """More header fields than MAX_HEADER_COUNT, or more than MAX_HEADER_BYTES of them."""
    if len(headers) > MAX_HEADER_COUNT:
        return True
    return sum(len(name) + len(value) + 4 for name, value in headers) > MAX_HEADER_BYTES


# A JSON \u0000 escape that is not itself escaped (an odd run of backslashes before the u).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def carries_nul(scope: Scope, body: bytes, content_type: bytes) -> bool:
    """Whether a NUL character reaches any text the app reads: the path, the query string,
    a form field or a JSON string (raw or escaped). PostgreSQL cannot store one in text, and
    no person types one; refused once here rather than field by field."""
    if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
        return True
    if b"\x00" in body:
        return True
    if b"form-urlencoded" in content_type:
        return b"%00" in body
    if b"json" in content_type:
        return _JSON_NUL.search(body) is not None
    return False


class BodyLimits:
    """Refuses headers past MAX_HEADER_COUNT / MAX_HEADER_BYTES (431), bodies over
    MAX_BODY_BYTES (413) and JSON nested deeper than MAX_JSON_DEPTH (400), quickly and without
    buffering more than the limit. Every method gets the same limit: a GET's body is as able
    to exhaust memory as a POST's."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_headers = list(scope.get("headers") or [])
        if headers_exceed(raw_headers):
            await _reject(
                scope,
                receive,
                send,
                431,
                "headers_too_large",
                f"requests carry at most {MAX_HEADER_COUNT} header fields and "
                f"{MAX_HEADER_BYTES} bytes of headers",
            )
            return
        headers = dict(raw_headers)
        declared = headers.get(b"content-length")
        limit = body_limit(scope)
        try:
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge()
            body = await read_body(receive, limit)
        except BodyTooLarge:
            too_large = f"request bodies here are at most {limit} bytes"
            await _reject(scope, receive, send, 413, "payload_too_large", too_large)
            return
        if body is None:
            return
        content_type = headers.get(b"content-type", b"").lower()
        # A payment file is bytes the XML parser judges (a NUL is malformed XML there).
        if scope.get("path") not in FILE_UPLOADS and carries_nul(scope, body, content_type):
            await _reject(
                scope, receive, send, 422, "invalid_text", "text may not contain NUL characters"
            )
            return
        if b"json" in content_type and json_depth_exceeds(body, MAX_JSON_DEPTH):
            await _reject(
                scope,
                receive,
                send,
                400,
                "malformed_json",
                f"JSON may nest at most {MAX_JSON_DEPTH} levels",
            )
            return
        await self.app(scope, replaying(body, receive), send)


async def _reject(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, detail: str
) -> None:
    response = error_response(status, code, detail, {"Connection": "close"})
    await response(scope, receive, send)


class UnexpectedErrors:
    """An exception no handler answered (a bug): 500 internal_error in the one error shape,
    logged with an id the answer carries (X-Request-Id, and in its detail). Answered here,
    inside SecurityHeaders, so it carries the headers every answer does; and not raised
    further: Starlette's ServerErrorMiddleware would answer it bare and re-raise, and the
    server then drops the connection a client keeps alive for its next request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            # The request's own id (api.observability), so the log line and answer agree.
            request_id = (scope.get("state") or {}).get("request_id") or uuid.uuid4().hex
            log.exception(
                "unhandled error on %s %s (request %s)",
                scope.get("method"),
                scope.get("path"),
                request_id,
            )
            if started:
                return  # part of an answer went out: the server closes the connection
            response = error_response(
                500,
                "internal_error",
                f"an unexpected error; it has been logged as request {request_id}",
                {"X-Request-Id": request_id},
            )
            await response(scope, receive, send)


DOCS_PATHS = ("/docs", "/redoc")


# Two years, subdomains included: the values browsers' preload lists ask for.
HSTS = b"max-age=63072000; includeSubDomains"


class SecurityHeaders:
    """Headers every response carries. The console and API load nothing from elsewhere; the
    API docs page needs its inline start-up script. Strict-Transport-Security on https, and
    always in production, which is always behind TLS even where a proxy in front terminates
    it (the app trusts no forwarded headers, so the scheme it sees may be http)."""

    def __init__(self, app: ASGIApp, *, always_https: bool = False) -> None:
        self.app = app
        self.always_https = always_https

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
        if path.startswith(("/v1", "/access")):
            extra.append((b"cache-control", b"no-store"))
        if self.always_https or scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)
