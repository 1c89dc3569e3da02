"""One error shape for every error: {"error": code, "detail": message}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.db import is_retryable, is_unavailable
from core.errors import ERROR_CODES, MandateError
from core.policy.reasons import REASONS

log = logging.getLogger("mandate.api")


class ErrorBody(BaseModel):
    error: str = Field(
        description="A stable machine-readable code", examples=["insufficient_funds"]
    )
    detail: str = Field(description="What went wrong, for a person")


# Pydantic error types whose meaning has a code of its own.
_VALIDATION_CODES = {
    "unknown_currency",
    "invalid_amount",
    "amount_too_large",
    "invalid_scope",
    "invalid_validity",
    "invalid_window",
    "invalid_time",
    "unknown_time_zone",
    "naive_datetime",
}
_HTTP_CODES = {
    # FastAPI's "There was an error parsing the body" (e.g. JSON that is not UTF-8).
    400: "malformed_json",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


IDEMPOTENCY_KEY_LOCATION = ("header", "Idempotency-Key")
IDEMPOTENCY_KEY_REQUIRED = (
    "money-moving requests need an Idempotency-Key header (for example a UUID)"
)
IDEMPOTENCY_KEY_INVALID = "an Idempotency-Key is 1 to 255 printable ASCII characters"


def codes_for(status: int) -> list[str]:
    codes = [c for c, (s, _) in ERROR_CODES.items() if s == status]
    codes += [c for c, (s, _) in REASONS.items() if s == status and c not in codes]
    return codes


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route: the error shape and the codes each status can carry."""
    titles = {
        400: "Malformed request",
        401: "Missing, expired or invalid token",
        403: "Refused by the policy",
        404: "Not found, or not visible to you",
        409: "Conflicts with the current state",
        413: "Request too large",
        422: "Invalid request",
        431: "Request headers too large",
        429: "Too many attempts",
        503: "Temporarily unavailable",
    }
    return {
        status: {
            "model": ErrorBody,
            "description": f"{titles.get(status, 'Error')}. error is one of: "
            + ", ".join(f"`{c}`" for c in codes_for(status)),
        }
        for status in statuses
    }


def describe_exception(exc: BaseException) -> tuple[int, str, str]:
    """(status, code, detail) for any exception a request can end with."""
    if isinstance(exc, MandateError):
        return exc.status, exc.code, exc.detail
    if isinstance(exc, RequestValidationError):
        return _validation(exc)
    if isinstance(exc, StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return exc.status_code, code, str(exc.detail)
    if isinstance(exc, DBAPIError):
        if is_retryable(exc):
            return 503, "contention", "too much contention right now; retry shortly"
        if is_unavailable(exc):
            return 503, "database_unavailable", "the database cannot be reached; retry shortly"
    return 500, "internal_error", "an unexpected error; it has been logged"


def _validation(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = exc.errors()
    for err in errors:
        if err.get("type") in ("json_invalid", "json_type"):
            return 400, "malformed_json", "the body is not valid JSON"
    key_errors = [e for e in errors if tuple(e.get("loc", ()))[:2] == IDEMPOTENCY_KEY_LOCATION]
    if key_errors and len(key_errors) == len(errors):
        if key_errors[0].get("type") == "missing" or key_errors[0].get("input") == "":
            return 400, "idempotency_key_required", IDEMPOTENCY_KEY_REQUIRED
        return 400, "idempotency_key_invalid", IDEMPOTENCY_KEY_INVALID
    for err in errors:
        if err.get("type") in _VALIDATION_CODES:
            return 422, str(err["type"]), str(err.get("msg", ""))
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return 422, "invalid_request", "; ".join(parts) or "invalid request"


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        status, code, detail = describe_exception(exc)
        if status >= 500 and code == "internal_error":
            log.exception(
                "unhandled error on %s %s", request.method, request.url.path, exc_info=exc
            )
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, StarletteHTTPException) and exc.headers:
            headers = {**exc.headers, **(headers or {})}
        if status == 405:
            # RFC 9110: a 405 lists what the path allows. FastAPI has a route per method, and
            # Starlette's Allow names only the first route's.
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        if status == 503:
            headers = {"Retry-After": "1"}
            if code == "contention":
                # RetryOnContention runs the request again unless this was the last attempt.
                headers["x-mandate-retryable"] = "1"
        return error_response(status, code, detail, headers)

    for exc_type in (
        MandateError,
        RequestValidationError,
        StarletteHTTPException,
        DBAPIError,
        Exception,
    ):
        app.add_exception_handler(exc_type, handle)
    _document_common_errors(app)


def _allowed_methods(request: Request) -> list[str]:
    allowed = []
    for method in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def _document_common_errors(app: FastAPI) -> None:
    """Answers any operation can give whatever its route declares, said on every operation so
    that the OpenAPI document stays true for every new route: a request with a body can be
    refused before its route runs (400 by the JSON parser or for JSON nested too deep, 413
    for a body too large, 431 for too many or too large headers: api.middleware.BodyLimits),
    and every /v1 operation reads the database, which can be away or too busy (503)."""
    build = app.openapi
    extra = {
        str(status): {
            "description": spec["description"],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for status, spec in error_responses(400, 413, 431, 503).items()
    }

    def openapi() -> dict[str, Any]:
        document = build()
        for path, item in document.get("paths", {}).items():
            for operation in item.values():
                if not isinstance(operation, dict):
                    continue
                statuses = ["400", "413"] if "requestBody" in operation else []
                statuses.append("431")
                statuses += ["503"] if path.startswith("/v1/") else []
                for status in statuses:
                    operation.setdefault("responses", {}).setdefault(status, extra[status])
        return document

    app.openapi = openapi  # type: ignore[method-assign]
