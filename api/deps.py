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
from core.context import RequestContext
from core.db import Database
from core.errors import Unauthenticated
from core.iam.credentials import Passwords, TokenService
from core.iam.service import actor_from_token
from core.settings import Settings

log = logging.getLogger("mandate.api")

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


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
    return request.app.state.services  # type: ignore[no-any-return]


def unit_of_work(request: Request) -> Iterator[Session]:
    """One transaction per request: committed before the response is sent, rolled back on
    error. The audit trail is written with the commit, or on its own after a rollback."""
    svc = services(request)
    ctx = RequestContext(actor=None, clock=svc.clock)
    request.state.ctx = ctx
    session = svc.db.session(write=request.method in WRITE_METHODS)
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


DbSession = Annotated[Session, Depends(unit_of_work, scope="function")]

bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


def current_context(
    request: Request, _uow: DbSession, token: Annotated[str | None, Depends(bearer)]
) -> RequestContext:
    """The caller, from the bearer token. Every /v1 route but sign-in depends on this.

    The user is read in a short transaction of its own, not the request's: on SQLite the
    request's first statement takes the write lock, and that must happen in the thread that
    runs the route, or a request holding the lock could wait for a worker thread that every
    other request (waiting for the lock) is holding."""
    ctx: RequestContext = request.state.ctx
    if not token:
        raise Unauthenticated("a bearer token is needed: POST /v1/auth/token to get one")
    svc = services(request)
    with svc.db.single_read() as session:
        ctx.actor = actor_from_token(session, svc.tokens, token, ctx.now())
    return ctx


Context = Annotated[RequestContext, Depends(current_context)]
