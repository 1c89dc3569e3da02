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

from core.db import describe_error
from core.errors import ERROR_CODES, HTTP_CODES, MandateError
from core.policy.reasons import REASONS, TENANT_RULE_PREFIX, TENANT_RULES, family

log = logging.getLogger("mandate.api")


class ErrorBody(BaseModel):
    error: str = Field(
        description="A stable machine-readable code", examples=["insufficient_funds"]
    )
    detail: str = Field(description="What went wrong, for a person")


# Pydantic error types whose meaning has a code of its own.
_VALIDATION_CODES = {
    "invalid_text",
    "unknown_currency",
    "invalid_amount",
    "amount_too_large",
    "invalid_scope",
    "invalid_validity",
    "invalid_window",
    "invalid_time",
    "unknown_time_zone",
    "naive_datetime",
    "date_out_of_range",
}
# ... and of those, the ones whose message needs the field it is about.
_FIELD_CODES = {"invalid_text"}


IDEMPOTENCY_KEY_LOCATION = ("header", "Idempotency-Key")
IDEMPOTENCY_KEY_REQUIRED = (
    "money-moving requests need an Idempotency-Key header (for example a UUID)"
)
IDEMPOTENCY_KEY_INVALID = "an Idempotency-Key is 1 to 255 printable ASCII characters"


def status_of_code(code: str) -> int:
    """The HTTP status an error code is answered with (core.errors and the policy's reasons;
    a company's own reasons, documented as the family TENANT_RULES, are the policy's)."""
    if code in ERROR_CODES:
        return ERROR_CODES[code][0]
    if documented_as(code) == TENANT_RULES:
        return REASONS[family(code)][0]
    if code in REASONS:
        return REASONS[code][0]
    raise KeyError(f"{code!r} is not in core.errors.ERROR_CODES nor a policy reason")


def documented_as(code: str) -> str:
    """How the OpenAPI document lists an answered code: itself, or for a company's own reason
    (tenant_rule:<name>, a rule bank staff wrote for one customer) its family TENANT_RULES."""
    if code == TENANT_RULES or code.startswith(TENANT_RULE_PREFIX):
        return TENANT_RULES
    return code


_TITLES = {
    400: "Malformed request",
    401: "Missing, expired or invalid token",
    403: "Refused by the policy",
    404: "Not found, or not visible to you",
    409: "Conflicts with the current state",
    413: "Request too large",
    431: "Request headers too large",
    422: "Invalid request",
    429: "Too many attempts",
    503: "Temporarily unavailable",
}
# The OpenAPI extension on each error response that lists its codes, for machines (the
# description says the same for people).
CODES_KEY = "x-error-codes"


def _describe(status: int, codes: list[str]) -> str:
    listed = ", ".join(f"`{c}`" for c in codes)
    return f"{_TITLES.get(status, 'Error')}. error is one of: {listed}"


def error_responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route: the error codes its own work can answer with, grouped
    by status. The codes every operation of its shape can give (a token, a body, parameters,
    a cursor, an Idempotency-Key, the database: see `common_codes`) are added to each
    operation when the document is built, so a route lists only what is its own."""
    by_status: dict[int, list[str]] = {}
    for code in codes:
        if not isinstance(code, str):
            raise TypeError(f"error_responses takes error codes, not {code!r}")
        by_status.setdefault(status_of_code(code), []).append(code)
    return {
        status: {"model": ErrorBody, "description": _describe(status, listed), CODES_KEY: listed}
        for status, listed in sorted(by_status.items())
    }


# What the policy can answer any request that needs a grant: nothing there to see, no grant
# carrying the action, or a grant not valid (yet, or any more).
POLICY_REFUSALS = ("not_found", "missing_permission", "grant_not_yet_valid", "grant_expired")
# What a company's own rules can refuse beyond them (decide.polar: tenant_refuses; the actions
# vocabulary.polar calls restrictable), each as tenant_rule:<its name>.
COMPANY_RULES = (TENANT_RULES,)
# ... and a request to manage access (users, roles, grants, caps, tenants): also a change to
# one's own access.
MANAGE_REFUSALS = (*POLICY_REFUSALS, "self_change_forbidden")
# Any request can be refused by api.middleware.BodyLimits before routing: a body past the
# limit (on every method), too many or too large headers, a NUL character anywhere.
REQUEST_CODES = ("payload_too_large", "headers_too_large", "invalid_text")
AUTHENTICATION_CODES = (
    "unauthenticated",
    "invalid_token",
    "token_expired",
    "mfa_enrolment_required",
)
BODY_CODES = ("malformed_json", "payload_too_large", "invalid_request")
PARAMETER_CODES = ("invalid_request",)
CURSOR_CODES = ("invalid_cursor",)
IDEMPOTENCY_CODES = (
    "idempotency_key_required",
    "idempotency_key_invalid",
    "idempotency_key_reused",
    "idempotency_key_in_flight",
)
DATABASE_CODES = ("contention", "database_unavailable")
SCOPE_CODES = ("scope_missing",)
# Any /v1 request can meet a maintenance window (api.maintenance): a write in a read_only
# one, anything in a full one.
MAINTENANCE_CODES = ("maintenance",)


def common_codes(path: str, operation: dict[str, Any]) -> list[str]:
    """The codes an operation can answer with because of its shape, whatever its route does:
    the request itself (REQUEST_CODES), a bearer token (api.deps), a body (parsed and
    depth-limited by api.middleware), parameters (validated by FastAPI), a cursor
    (core.pagination), an Idempotency-Key (core.ledger.idempotency), and, for /v1, the
    database (core.db.describe_error) and a maintenance window (api.maintenance). An operation
    that can be refused for want of a grant (missing_permission) can be refused an API client's
    token for want of a scope too: the policy asks the scopes first (decide.polar:
    scope_missing)."""
    parameters = operation.get("parameters", [])
    codes: list[str] = list(REQUEST_CODES)
    if operation.get("security"):
        codes += AUTHENTICATION_CODES
    if "requestBody" in operation:
        codes += BODY_CODES
    if parameters:
        codes += PARAMETER_CODES
    if any(p.get("in") == "query" and p.get("name") == "cursor" for p in parameters):
        codes += CURSOR_CODES
    if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in parameters):
        codes += IDEMPOTENCY_CODES
    if path.startswith("/v1/"):
        codes += DATABASE_CODES
    if "missing_permission" in operation.get("responses", {}).get("403", {}).get(CODES_KEY, []):
        codes += SCOPE_CODES
    if path.startswith("/v1/") and path != "/v1/status":
        codes += MAINTENANCE_CODES
    return list(dict.fromkeys(codes))


def describe_exception(exc: BaseException) -> tuple[int, str, str]:
    """(status, code, detail) for any exception a request can end with: the domain's and the
    database's (core.db.describe_error), and FastAPI's own."""
    if isinstance(exc, RequestValidationError):
        return _validation(exc)
    if isinstance(exc, StarletteHTTPException):
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return exc.status_code, code, str(exc.detail)
    return describe_error(exc)


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
            message = str(err.get("msg", ""))
            if err["type"] in _FIELD_CODES:
                message = f"{_where(err)}: {message}"
            return 422, str(err["type"]), message
    parts = [f"{_where(err)}: {err.get('msg', 'invalid')}" for err in errors[:5]]
    return 422, "invalid_request", "; ".join(parts) or "invalid request"


def _where(err: Any) -> str:
    return ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"


# 401s that a stronger or more recent authentication lifts, not a missing or bad token:
# RFC 9470's error (with max_age for a step-up), described by the code's general meaning.
INSUFFICIENT_AUTHENTICATION = ("step_up_required", "mfa_enrolment_required")


def challenge(exc: BaseException, code: str) -> str:
    """The WWW-Authenticate header of a 401: `Bearer`, or RFC 9470's step-up challenge,
    e.g. Bearer error="insufficient_user_authentication", error_description="...",
    max_age="300" (how recent, in seconds, the strong authentication must be)."""
    if code not in INSUFFICIENT_AUTHENTICATION:
        return "Bearer"
    meaning = ERROR_CODES[code][1] if code in ERROR_CODES else REASONS[code][1]
    parts = [
        'Bearer error="insufficient_user_authentication"',
        f'error_description="{meaning.replace(chr(34), "").replace(chr(92), "")}"',
    ]
    max_age = exc.context.get("max_age") if isinstance(exc, MandateError) else None
    if isinstance(max_age, int) and max_age > 0:
        parts.append(f'max_age="{max_age}"')
    return ", ".join(parts)


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
        headers = {"WWW-Authenticate": challenge(exc, code)} if status == 401 else None
        if isinstance(exc, StarletteHTTPException) and exc.headers:
            headers = {**exc.headers, **(headers or {})}
        if status == 405:
            # RFC 9110: a 405 lists what the path allows. FastAPI has a route per method, and
            # Starlette's Allow names only the first route's.
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        retry_after = exc.context.get("retry_after") if isinstance(exc, MandateError) else None
        if retry_after is not None:
            headers = {**(headers or {}), "Retry-After": str(retry_after)}
        if status == 503:
            headers = {"Retry-After": "1"}
        response = error_response(status, code, detail, headers)
        extra = exc.context.get("body") if isinstance(exc, MandateError) else None
        if isinstance(extra, dict):
            # What a refusal carries beside its code and sentence (a refused policy
            # proposal: its failing cases), in the same body.
            response = JSONResponse(
                {"error": code, "detail": detail, **extra},
                status_code=status,
                headers=headers,
            )
        return response

    # Not Exception: Starlette hands that to its ServerErrorMiddleware, outside every other
    # middleware, which re-raises; api.middleware.UnexpectedErrors answers it instead.
    for exc_type in (MandateError, RequestValidationError, StarletteHTTPException, DBAPIError):
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
    """Add to every operation of the OpenAPI document the codes its shape can give
    (`common_codes`) beside the ones its route declared, each status listing exactly its
    codes: the document stays true for every new route."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = build()
        for path, item in document.get("paths", {}).items():
            for operation in item.values():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                _add_codes(operation["responses"], common_codes(path, operation))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
# Answers that tell the client when to try again.
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying (with "
        "idempotency_key_in_flight the retry replays the first request's answer)",
        "schema": {"type": "integer"},
    }
}
# RFC 9470: what the client must do to be let through.
STEP_UP_CHALLENGE = {
    "WWW-Authenticate": {
        "description": 'With step_up_required: Bearer error="insufficient_user_authentication", '
        'error_description="...", max_age="300": sign in again with a code from the '
        "authenticator app (POST /v1/auth/token with otp), no longer ago than max_age seconds, "
        "and send the request again",
        "schema": {"type": "string"},
    }
}
CODE_HEADERS: dict[str, dict[str, Any]] = {
    "step_up_required": STEP_UP_CHALLENGE,
    "idempotency_key_in_flight": RETRY_AFTER,
    "contention": RETRY_AFTER,
    "too_many_requests": RETRY_AFTER,
}


def _add_codes(responses: dict[str, Any], codes: list[str]) -> None:
    for code in codes:
        listed = responses.setdefault(str(status_of_code(code)), {}).setdefault(CODES_KEY, [])
        if code not in listed:
            listed.append(code)
    for status, response in responses.items():
        if CODES_KEY in response:
            response["description"] = _describe(int(status), response[CODES_KEY])
            # Every error has the one shape (FastAPI's own 422 schema is not what is sent).
            response["content"] = ERROR_CONTENT
            for code in response[CODES_KEY]:
                response.setdefault("headers", {}).update(CODE_HEADERS.get(code, {}))
            if not response.get("headers"):
                response.pop("headers", None)
    ordered = sorted(responses.items(), key=lambda item: item[0])
    responses.clear()
    responses.update(ordered)
