"""Signing in and out of the console, and the landing page."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from admin.deps import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    CheckedForm,
    ConsoleUnit,
    RequestUnit,
    client_address,
    is_https,
    services,
)
from admin.forms import Entry, handle_form, text
from admin.views import PREFIX, redirect, render_public, url
from admin.workspace import Workspace, workspace
from core.context import RequestContext
from core.iam import sessions
from core.iam.second_factor import Proof

router = APIRouter()


async def posted_form(request: Request) -> FormData:
    return await request.form()


PostedForm = Annotated[FormData, Depends(posted_form)]


def landing(ws: Workspace) -> str:
    """The first page worth seeing for this person."""
    if ws.actor.is_staff and ws.holds("tenant.manage"):
        return "/tenants"
    if ws.actor.is_staff and ws.holds("decision.read"):
        return "/decisions"
    if ws.holds("account.read"):
        return "/accounts"
    if ws.holds("user.read"):
        return "/users"
    return "/activity"


def safe_next(path: str) -> str:
    """Where to go after signing in: a console page, never another site."""
    if (
        path.startswith(PREFIX + "/")
        and not path.startswith("//")
        and "\\" not in path
        and all(" " < ch < "\x7f" for ch in path)
    ):
        return path
    return ""


def second_factor_proof(typed: str) -> Proof:
    """The sign-in form's one code field: six digits are the authenticator's code, anything
    else a recovery code."""
    code = "".join(typed.split())
    if code.isdigit():
        return Proof(code=code)
    return Proof(recovery_code=code) if code else Proof()


@router.get("/", name="console.home")
def home(uow: ConsoleUnit) -> RedirectResponse:
    return uow.run(lambda session, ctx: redirect(landing(workspace(session, ctx))))


def _sign_in_page(
    request: Request, *, next_path: str, username: str = "", error: str = "", status: int = 200
) -> HTMLResponse:
    nonce = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(24)
    response = render_public(
        request,
        "sign_in.html",
        status=status,
        title="Sign in",
        nonce=nonce,
        next_path=safe_next(next_path),
        username=username,
        error=error,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        nonce,
        max_age=3600,
        path=PREFIX,
        secure=is_https(request),
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/sign-in", name="console.sign_in_page")
def sign_in_page(
    request: Request, next_path: Annotated[str, Query(alias="next", max_length=500)] = ""
) -> HTMLResponse:
    return _sign_in_page(request, next_path=next_path)


@router.post("/sign-in", name="console.sign_in")
def sign_in(request: Request, uow: RequestUnit, form: PostedForm) -> Response:
    next_path = safe_next(text(form, "next", 500))
    username = text(form, "username", 64)
    nonce = request.cookies.get(SIGN_IN_COOKIE, "")
    sent = text(form, "csrf_token", 100)
    if not nonce or not hmac.compare_digest(sent.encode(), nonce.encode()):
        return _sign_in_page(
            request,
            next_path=next_path,
            username=username,
            error="This sign-in form has expired. Please try again.",
            status=403,
        )
    password = form.get("password")
    proof = second_factor_proof(text(form, "code", 20))
    address = client_address(request)
    svc = services(request)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> str:
        return password if isinstance(password, str) else ""

    def act(session: Session, ctx: RequestContext, typed: str) -> Response:
        opened = sessions.sign_in(
            session,
            svc.db,
            svc.passwords,
            svc.box,
            sessions.Credentials(username, typed, address, proof),
            user_agent=request.headers.get("user-agent", ""),
            now=ctx.now(),
        )
        ctx.actor = opened.actor
        ctx.audit.attempt("console.sign_in", target=f"from {address}"[:100])
        authentication = opened.actor.authentication
        enrolling = authentication is not None and authentication.enrolment_only
        after = url("/two-factor") if enrolling else next_path or url("/")
        response = RedirectResponse(after, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            opened.token,
            max_age=int(sessions.ABSOLUTE_LIFETIME.total_seconds()),
            path=PREFIX,
            secure=is_https(request),
            httponly=True,
            samesite="lax",
        )
        response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
        return response

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        # The attempt is already recorded (in transactions of its own). The words are the
        # same whether or not the user exists.
        error = entry.errors.get("", "")
        return _sign_in_page(
            request, next_path=next_path, username=username, error=error, status=code
        )

    return handle_form(uow, read, act, again)


@router.post("/sign-out", name="console.sign_out")
def sign_out(request: Request, uow: ConsoleUnit, _form: CheckedForm) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")

    def act(session: Session, ctx: RequestContext, ended: str) -> Response:
        sessions.sign_out(session, ended, ctx.now())
        ctx.audit.attempt("console.sign_out")
        response = redirect("/sign-in", done="signed-out")
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, secure=is_https(request), httponly=True)
        return response

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return redirect("/sign-in", done="signed-out")

    return handle_form(uow, lambda *_: token, act, again)
