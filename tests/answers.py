"""Every error answer the app gives during the test run, recorded at the ASGI boundary (so
the middleware's refusals count too), for the test that holds the OpenAPI document's
per-operation error codes to what the app really answers (tests/api/test_error_codes.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

Message = MutableMapping[str, Any]


@dataclass(frozen=True)
class Answer:
    method: str
    path: str
    status: int
    code: str


ANSWERS: set[Answer] = set()


def install_recorder() -> Callable[[], None]:
    """Record every error answer of every FastAPI app; returns the undo."""
    original = FastAPI.__call__

    async def recording(
        self: FastAPI,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await original(self, scope, receive, send)
            return
        status = 0
        chunks: list[bytes] = []

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and status >= 400:
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await original(self, scope, receive, watch)
        finally:
            _record(scope, status, b"".join(chunks))

    FastAPI.__call__ = recording  # type: ignore[method-assign]

    def undo() -> None:
        FastAPI.__call__ = original  # type: ignore[method-assign]

    return undo


def _record(scope: MutableMapping[str, Any], status: int, body: bytes) -> None:
    if status < 400 or not body:
        return
    try:
        code = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return
    if isinstance(code, str):
        ANSWERS.add(Answer(scope["method"], scope["path"], status, code))


def operation_of(document: dict[str, Any], method: str, path: str) -> str | None:
    """The documented path template `path` is answered by, for `method` (None if none)."""
    paths = document.get("paths", {})
    if path in paths:
        return path if method.lower() in paths[path] else None
    for template, item in paths.items():
        parts = re.split(r"(\{[^/]+\})", template)
        pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        if re.fullmatch(pattern, path) and method.lower() in item:
            return str(template)
    return None
