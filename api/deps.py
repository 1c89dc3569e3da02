"""Dependencies: the unit of work of each request, and who is asking."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from api.errors import describe_exception
from core.context import RequestContext
from core.errors import Unauthenticated
from core.iam.second_factor import ENROLMENT_ONLY
from core.iam.sessions import actor_from_token
from core.runtime import Services
from core.uow import UnitOfWork

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


def services(request: Request) -> Services:
    return request.app.state.services


def request_unit_of_work(request: Request) -> Iterator[UnitOfWork]:
    """The request's unit of work: a write transaction for a writing method, a read one
    otherwise; on success its trail records the route's status, and for a writing method
    the route's name when the work names no action of its own. A failure before or after
    the work (a parameter, the caller's token) is recorded here; the work's own, by it."""
    svc = services(request)
    route = request.scope.get("route")
    write = request.method in WRITE_METHODS
    uow = UnitOfWork(
        svc.db,
        RequestContext(actor=None, clock=svc.clock, read_only=svc.maintenance.in_force(svc.clock)),
        write=write,
        status_code=getattr(route, "status_code", None) or 200,
        action=getattr(route, "name", None) if write else None,
    )
    request.state.ctx = uow.ctx
    try:
        with uow.guarded(describe_exception):
            yield uow
    finally:
        for observe in svc.observers:
            observe(request, uow.ctx)


RequestUnit = Annotated[UnitOfWork, Depends(request_unit_of_work, scope="function")]


def client_address(request: Request) -> str:
    """The caller's address, as sign-in attempts are counted per address."""
    return request.client.host if request.client else "unknown"


def _caller(
    request: Request, uow: UnitOfWork, token: str | None, *, enrolling: bool
) -> RequestContext:
    """The caller, from the bearer token.

    On PostgreSQL the user is read in the request's own (first) transaction. On SQLite it is
    read on a connection of its own: the request's first statement takes the database's write
    lock, and that must happen in the thread that runs the route, or a request holding the
    lock could wait for a worker thread that every other request (waiting for the lock) holds.

    A token for enrolment only (the bank requires a second factor the person has not set up)
    is accepted by the routes that set one up (`enrolling`), by no other."""
    if not token:
        raise Unauthenticated("a bearer token is needed: POST /v1/auth/token to get one")
    svc = services(request)
    ctx = uow.ctx
    if svc.db.is_sqlite:
        with svc.db.single_read() as own:
            ctx.actor = actor_from_token(own, svc.tokens, token, ctx.now())
    else:
        ctx.actor = actor_from_token(uow.opened(), svc.tokens, token, ctx.now())
    authentication = ctx.actor.authentication
    if authentication is not None and authentication.enrolment_only and not enrolling:
        raise Unauthenticated(ENROLMENT_ONLY, code="mfa_enrolment_required")
    return ctx


def current_context(
    request: Request, uow: RequestUnit, token: Annotated[str | None, Depends(bearer)]
) -> RequestContext:
    """The caller, from the bearer token. Every /v1 route but sign-in depends on this, or on
    enrolling_context (a test holds them to it)."""
    return _caller(request, uow, token, enrolling=False)


def enrolling_context(
    request: Request, uow: RequestUnit, token: Annotated[str | None, Depends(bearer)]
) -> RequestContext:
    """The caller, from the bearer token, a token for enrolment only included: for who you
    are and setting up your second factor."""
    return _caller(request, uow, token, enrolling=True)


Context = Annotated[RequestContext, Depends(current_context)]


def caller_unit_of_work(uow: RequestUnit, _caller: Context) -> UnitOfWork:
    """The request's unit of work, once the caller is known."""
    return uow


# The unit of work of a /v1 route: `return uow.run(service.operation, ...)`.
ApiUnit = Annotated[UnitOfWork, Depends(caller_unit_of_work)]


def enrolling_unit_of_work(
    uow: RequestUnit, _caller: Annotated[RequestContext, Depends(enrolling_context)]
) -> UnitOfWork:
    """The request's unit of work, once the caller is known, for enrolment only as well."""
    return uow


# The unit of work of the routes a sign-in for enrolment only may use (api.routers.second_factor).
EnrolmentUnit = Annotated[UnitOfWork, Depends(enrolling_unit_of_work)]
