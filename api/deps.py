"""Dependencies: the unit of work around each request, and who is asking."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.errors import describe_exception
from api.middleware import FINAL_ATTEMPT
from core.audit.service import write_trail
from core.clock import Clock
from core.context import Actor, RequestContext
from core.db import Database
from core.errors import Unauthenticated
from core.iam.credentials import Passwords, TokenService
from core.iam.sessions import actor_from_token
from core.settings import Settings

log = logging.getLogger("mandate.api")

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


@dataclass
class Services:
    """What the app needs, built once at start-up (api.app.create_app)."""

    settings: Settings
    db: Database
    passwords: Passwords
    tokens: TokenService
    clock: Clock
    # Called with (request, ctx) when a request's unit of work ends: tests use it to check
    # that every route asked the policy.
    observers: list[Callable[[Request, RequestContext], None]] = field(default_factory=list)


def services(request: Request) -> Services:
    return request.app.state.services


def unit_of_work(request: Request) -> Iterator[Session]:
    """One transaction per request: committed before the response is sent, rolled back on
    error. The audit trail is written with the commit, or on its own after a rollback."""
    yield from _request_transaction(request, token=None, authenticate=False)


def authenticated_unit_of_work(
    request: Request, token: Annotated[str | None, Depends(bearer)]
) -> Iterator[Session]:
    """The request's unit of work, and first who is asking, from the bearer token.

    On PostgreSQL the user is read in the request's own transaction. On SQLite it is read on
    a connection of its own: the request's first statement takes the database's write lock,
    and that must happen in the thread that runs the route, or a request holding the lock
    could wait for a worker thread that every other request (waiting for the lock) holds."""
    yield from _request_transaction(request, token=token, authenticate=True)


def _request_transaction(
    request: Request, *, token: str | None, authenticate: bool
) -> Iterator[Session]:
    svc = services(request)
    ctx = RequestContext(actor=None, clock=svc.clock)
    request.state.ctx = ctx
    session = svc.db.session(write=request.method in WRITE_METHODS)
    if authenticate:
        try:
            ctx.actor = _authenticate(svc, session, token, ctx)
        except BaseException:
            session.close()
            raise
    route = request.scope.get("route")
    fallback_action = getattr(route, "name", None) if request.method in WRITE_METHODS else None
    try:
        yield session
        status = getattr(route, "status_code", None) or 200
        write_trail(session, ctx, status_code=status, fallback_action=fallback_action)
        session.commit()
    except BaseException as exc:
        session.rollback()
        status, code, detail = describe_exception(exc)
        # A contention failure is run again (api.middleware.RetryOnContention): only the last
        # attempt, if it fails too, is the caller's to see in their activity.
        final = request.scope.get(FINAL_ATTEMPT, True)
        if status < 500 or (code == "contention" and final):
            _write_failure_trail(svc.db, ctx, status, code, detail, fallback_action)
        raise
    finally:
        session.close()
        for observe in svc.observers:
            observe(request, ctx)


def _authenticate(svc: Services, session: Session, token: str | None, ctx: RequestContext) -> Actor:
    if not token:
        raise Unauthenticated("a bearer token is needed: POST /v1/auth/token to get one")
    if svc.db.is_sqlite:
        with svc.db.single_read() as own:
            return actor_from_token(own, svc.tokens, token, ctx.now())
    return actor_from_token(session, svc.tokens, token, ctx.now())


def _write_failure_trail(
    db: Database, ctx: RequestContext, status: int, code: str, detail: str, action: str | None
) -> None:
    if ctx.actor is None and not ctx.audit.decisions:
        return
    try:
        with db.unit_of_work(write=True) as session:
            write_trail(
                session,
                ctx,
                status_code=status,
                error_code=code,
                detail=detail,
                fallback_action=action,
            )
    except Exception:  # the original error is what the caller must see
        log.exception("could not record a failed request's audit trail")


# The unit of work of a route anyone may call (signing in; the console, which has its own
# sign-in), and of a /v1 route, which also establishes who is asking.
DbSession = Annotated[Session, Depends(unit_of_work, scope="function")]
ApiSession = Annotated[Session, Depends(authenticated_unit_of_work, scope="function")]


async def current_context(request: Request, _session: ApiSession) -> RequestContext:
    """The caller. Every /v1 route but sign-in depends on this (a test holds them to it)."""
    ctx: RequestContext = request.state.ctx
    return ctx


Context = Annotated[RequestContext, Depends(current_context)]
