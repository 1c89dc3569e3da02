"""Two-factor sign-in: setting up an authenticator app (its QR code, a code to confirm it,
the recovery codes shown once), and removing it with a code from it. A session for enrolment
only (the bank requires a second factor the person has not set up) opens these pages alone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin.deps import CheckedForm, ConsoleUnit, services
from admin.forms import Entry, handle_form, text
from admin.views import redirect, render
from core.context import RequestContext
from core.iam import second_factor, sessions
from core.iam.second_factor_schemas import RecoveryCodes, TotpEnrolment

router = APIRouter()


def two_factor_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    *,
    enrolment: TotpEnrolment | None = None,
    recovery: RecoveryCodes | None = None,
    entry: Entry | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        session,
        ctx,
        "two_factor.html",
        status=status,
        title="Two-factor sign-in",
        standing=second_factor.status(session, ctx),
        enrolment=enrolment,
        recovery=recovery,
        entry=entry or Entry(),
    )


@router.get("/two-factor", name="console.two_factor")
def two_factor(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    return uow.run(lambda session, ctx: two_factor_page(request, session, ctx))


@router.post("/two-factor/start", name="console.two_factor_start")
def start(request: Request, uow: ConsoleUnit, _form: CheckedForm) -> Response:
    box = services(request).box

    def act(session: Session, ctx: RequestContext, _: bool) -> Response:
        enrolment = second_factor.start_enrolment(session, ctx, box)
        return two_factor_page(request, session, ctx, enrolment=enrolment)

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return two_factor_page(request, session, ctx, entry=entry, status=code)

    return handle_form(uow, lambda *_: True, act, again)


@router.post("/two-factor/confirm", name="console.two_factor_confirm")
def confirm(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    box = services(request).box
    code = text(form, "code", 12)
    session_id: int = request.state.session_id

    def read(session: Session, ctx: RequestContext, entry: Entry) -> str | None:
        if not code:
            entry.error("code", "Enter the code your authenticator app shows.")
        return code

    def act(session: Session, ctx: RequestContext, typed: str) -> Response:
        recovery = sessions.confirm_authenticator(session, ctx, box, typed, session_id)
        return two_factor_page(request, session, ctx, recovery=recovery)

    def again(session: Session, ctx: RequestContext, entry: Entry, status: int) -> Response:
        return two_factor_page(request, session, ctx, entry=entry, status=status)

    return handle_form(uow, read, act, again, fields=("code",))


@router.post("/two-factor/remove", name="console.two_factor_remove")
def remove(request: Request, uow: ConsoleUnit, _form: CheckedForm) -> Response:
    """The form's code is the step-up code (admin.deps.checked_form checks it first)."""

    def act(session: Session, ctx: RequestContext, _: bool) -> Response:
        authentication = ctx.require_actor().authentication
        assert authentication is not None
        second_factor.remove_authenticator(session, ctx, authentication)
        return redirect("/two-factor", done="totp-removed")

    def again(session: Session, ctx: RequestContext, entry: Entry, status: int) -> Response:
        return two_factor_page(request, session, ctx, entry=entry, status=status)

    return handle_form(uow, lambda *_: True, act, again)
