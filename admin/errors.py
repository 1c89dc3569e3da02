"""How the console answers errors: with pages, not JSON.

Errors still travel as core.errors.MandateError (code, status, detail) through the unit of
work, so a refused form is rolled back and lands in the audit trail exactly like a refused
API call; only the rendering differs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from admin.step_up import asks_for_code, step_up_page
from admin.views import PREFIX, error_page
from core.db import describe_error
from core.errors import HTTP_CODES, Forbidden, MandateError, Unauthenticated

log = logging.getLogger("mandate.console")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SignInRequired(Unauthenticated):
    """No console session, or it ended: the browser is sent to the sign-in page."""

    code = "unauthenticated"


class EnrolmentRequired(SignInRequired):
    """A session for enrolment only (the bank requires a second factor the person has not
    set up) opened another page: the browser is sent to setting one up."""

    code = "mfa_enrolment_required"


class FormExpired(Forbidden):
    """A form came back without this session's anti-forgery token (or with another's)."""

    code = "csrf_failed"

    def __init__(self) -> None:
        super().__init__(
            "this form has expired or did not come from this console; reload the page and try again"
        )


class FormRefused(MandateError):
    """A service refused what a form asked for. Carries the page to answer with (the form
    again, the message next to its field) and keeps the original's code and status, so the
    unit of work rolls back and records the refusal as it would for the API."""

    def __init__(self, cause: MandateError, response: Response) -> None:
        super().__init__(cause.detail, code=cause.code)
        self.status = cause.status  # type: ignore[misc]
        self.response = response


def describe_exception(exc: BaseException) -> tuple[int, str, str]:
    """(status, code, detail) for any exception a console request can end with: a malformed
    id or query in a console URL is as good as a page that is not there."""
    if isinstance(exc, RequestValidationError):
        return 404, "not_found", "no such page"
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail)
    return describe_error(exc)


def sign_in_url(request: Request) -> str:
    """The sign-in page, coming back afterwards to the page asked for (a form that was being
    sent cannot be sent again from there: it comes back to the console's first page)."""
    if request.method != "GET":
        return f"{PREFIX}/sign-in"
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{PREFIX}/sign-in?next={quote(back, safe='')}"


def install(console: FastAPI) -> None:
    async def refused_form(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, FormRefused)
        return exc.response

    async def sign_in_needed(request: Request, exc: Exception) -> Response:
        response = RedirectResponse(sign_in_url(request), status_code=303)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def enrol_first(request: Request, exc: Exception) -> Response:
        response = RedirectResponse(f"{PREFIX}/two-factor", status_code=303)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def error(request: Request, exc: Exception) -> Response:
        if asks_for_code(request, exc):
            assert isinstance(exc, MandateError)
            return step_up_page(request, exc)
        status, code, detail = describe_exception(exc)
        if status >= 500 and code == "internal_error":
            log.exception("console error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_page(request, status, code, detail)

    console.add_exception_handler(FormRefused, refused_form)
    console.add_exception_handler(SignInRequired, sign_in_needed)
    console.add_exception_handler(EnrolmentRequired, enrol_first)
    for exc_type in (MandateError, RequestValidationError, StarletteHTTPException):
        console.add_exception_handler(exc_type, error)
    console.add_middleware(UnexpectedErrors)


class UnexpectedErrors:
    """An exception no handler answered (a bug): the error page, 500, logged with an id the
    page shows. Inside the console's own ServerErrorMiddleware, which would answer and
    re-raise (and the server then drop a kept-alive connection); the app the console is
    mounted on adds the security headers to this page as to every other."""

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
            # The request's own id (api.observability), so the log line and page agree.
            request_id = (scope.get("state") or {}).get("request_id") or uuid.uuid4().hex
            log.exception(
                "console error on %s %s (request %s)",
                scope.get("method"),
                scope.get("path"),
                request_id,
            )
            if started:
                return  # part of a page went out: the server closes the connection
            page = error_page(
                Request(scope, receive),
                500,
                "internal_error",
                f"an unexpected error; it has been logged as request {request_id}",
            )
            page.headers["X-Request-Id"] = request_id
            await page(scope, receive, send)


def maintenance_page(scope: Scope, detail: str, headers: dict[str, str]) -> Response:
    """The console's answer to what a maintenance window refuses (api.maintenance): the error
    page with the window's message, Retry-After and the window named in its header."""
    response = error_page(Request(scope), 503, "maintenance", detail)
    response.headers.update(headers)
    return response
