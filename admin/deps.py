"""Console dependencies: each request's unit of work (core.uow, as for the API), the
signed-in person from the session cookie, and forms checked for this session's anti-forgery
token."""

from __future__ import annotations

import dataclasses
import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData

from admin.errors import EnrolmentRequired, FormExpired, SignInRequired, describe_exception
from admin.step_up import STEP_UP_FIELD
from core.context import RequestContext
from core.errors import InvalidRequest, Unauthenticated
from core.iam import second_factor, sessions
from core.runtime import Services
from core.uow import UnitOfWork

SESSION_COOKIE = "mandate_console"
# Before sign-in there is no session to bind a form to: the sign-in form carries a random
# value that must match this cookie (a page on another site can read neither).
SIGN_IN_COOKIE = "mandate_sign_in"
CSRF_FIELD = "csrf_token"
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# What a session for enrolment only may open (the bank requires a second factor the person
# has not set up): setting one up, and signing out.
ENROLMENT_ROUTES = {
    "console.two_factor",
    "console.two_factor_start",
    "console.two_factor_confirm",
    "console.sign_out",
}


def services(request: Request) -> Services:
    return request.app.state.services


def request_unit_of_work(request: Request) -> Iterator[UnitOfWork]:
    """The request's unit of work: a write transaction for a form, a read one for a page. A
    failure outside the work (a malformed URL, an expired form) is recorded here; the work's
    own, by it."""
    svc = services(request)
    route = request.scope.get("route")
    write = request.method in WRITE_METHODS
    uow = UnitOfWork(
        svc.db,
        RequestContext(actor=None, clock=svc.clock, read_only=svc.maintenance.in_force(svc.clock)),
        write=write,
        action=getattr(route, "name", None) if write else None,
    )
    request.state.ctx = uow.ctx
    try:
        with uow.guarded(describe_exception):
            yield uow
    finally:
        for observe in svc.observers:
            observe(request, uow.ctx)


# The unit of work of a page anyone may open (signing in).
RequestUnit = Annotated[UnitOfWork, Depends(request_unit_of_work, scope="function")]


def console_context(request: Request, uow: RequestUnit) -> RequestContext:
    """The caller, from the console session cookie; the sign-in page when there is none.

    Like the API's caller, the session is read in a short transaction of its own so that the
    request's transaction starts in the thread that runs the route."""
    ctx = uow.ctx
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired("sign in to use the console")
    svc = services(request)
    try:
        with svc.db.unit_of_work(write=False) as session:
            resumed = sessions.resume(session, token, ctx.now())
    except Unauthenticated as exc:
        raise SignInRequired(exc.detail) from exc
    if resumed.needs_touch:
        with svc.db.unit_of_work(write=True) as session:
            sessions.touch(session, resumed.session_id, ctx.now())
    ctx.actor = resumed.actor
    request.state.csrf_token = sessions.csrf_token_for(token)
    request.state.session_id = resumed.session_id
    authentication = resumed.actor.authentication
    route = getattr(request.scope.get("route"), "name", "")
    enrolling = authentication is not None and authentication.enrolment_only
    if enrolling and route not in ENROLMENT_ROUTES:
        raise EnrolmentRequired(second_factor.ENROLMENT_ONLY)
    return ctx


ConsoleContext = Annotated[RequestContext, Depends(console_context)]


def signed_in_unit_of_work(uow: RequestUnit, _caller: ConsoleContext) -> UnitOfWork:
    """The request's unit of work, once the signed-in person is known."""
    return uow


# The unit of work of a console page: `return uow.run(page, ...)`.
ConsoleUnit = Annotated[UnitOfWork, Depends(signed_in_unit_of_work)]


async def checked_form(request: Request, ctx: ConsoleContext) -> FormData:
    """The posted form, if it carries this session's anti-forgery token; with a step-up code
    (STEP_UP_FIELD), once the code is checked (step_up)."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected: str = request.state.csrf_token
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise FormExpired()
    # Kept for the step-up prompt, which sends the same form again with a code.
    request.state.form = form
    code = form.get(STEP_UP_FIELD)
    if isinstance(code, str) and code.strip():
        step_up(request, ctx, code.strip()[:12])
    return form


def step_up(request: Request, ctx: RequestContext, code: str) -> None:
    """Check a code from the person's authenticator (counted as a sign-in attempt, each code
    once) and note the strong authentication in their session: this request and the next
    ones decide on it. Outside the request's transaction, as signing in is."""
    svc = services(request)
    actor = ctx.require_actor()
    try:
        fresh = second_factor.prove_code(
            svc.db, svc.box, actor, code, address=client_address(request), now=ctx.now()
        )
    except InvalidRequest:
        request.state.step_up_refused = True
        raise
    with svc.db.unit_of_work(write=True) as session:
        sessions.authenticated(session, request.state.session_id, fresh)
    ctx.actor = dataclasses.replace(actor, authentication=fresh)


CheckedForm = Annotated[FormData, Depends(checked_form)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def is_https(request: Request) -> bool:
    """Whether cookies must be Secure: served over https, or in production (which is always
    behind TLS, even where a proxy in front terminates it and the app sees plain http)."""
    return request.url.scheme == "https" or services(request).settings.environment == "production"
