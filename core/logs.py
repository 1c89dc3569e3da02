"""Logs as one JSON object per line (structlog), or readable lines on a terminal: Mandate's
own events and every library's (the standard library's logging is routed through the same
renderer). `mandate serve --log-format json|console`, MANDATE_LOG_FORMAT.

Nothing secret is written: fields named like a secret (password, token, authorization, otp,
cookie ...) are replaced by "[redacted]" whatever logs them, and anything shaped like a
bearer token (a JWT) is cut out of every message. The request log (api.observability) logs
a route's template, never its query, headers or body."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

LogFormat = Literal["json", "console"]

SECRET_FIELDS = frozenset(
    {
        "password",
        "new_password",
        "token",
        "access_token",
        "refresh_token",
        "authorization",
        "otp",
        "code",
        "recovery_code",
        "cookie",
        "set-cookie",
        "secret",
        "client_secret",
        "csrf_token",
        "client_assertion",
    }
)
REDACTED = "[redacted]"
# A JWT (header.payload.signature, base64url): what a bearer token or an assertion is.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: secrets out of an event, by field name and by shape."""
    event.pop("color_message", None)  # uvicorn's copy of its message with terminal colours
    for key in list(event):
        if key.lower() in SECRET_FIELDS:
            event[key] = REDACTED
        elif isinstance(event[key], str):
            event[key] = _JWT.sub(REDACTED, event[key])
    return event


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.stdlib.ExtraAdder(),
]


def formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter of every handler: the standard library's records and structlog's
    events rendered the same way, secrets out."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Send every log line to stderr in `log_format`, Mandate's own from `level`, the
    libraries' from WARNING (uvicorn's errors too; its access log is replaced by Mandate's
    request log)."""
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in ("mandate", "core", "api", "admin"):
        logging.getLogger(name).setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
