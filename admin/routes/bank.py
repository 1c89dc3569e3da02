"""The bank's own settings, for its staff: its rules for change (dual administration for its
customers, dual control over its managers, how long a change request waits, for how many days
ties between its staff count). Bank managers change them, under the bank's dual control when
that is on (saving then sends the change for approval); compliance officers read them; a
customer finds no such page (core.iam.service.get_bank answers not found)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit
from admin.forms import Entry
from admin.views import redirect, render, sent_for_approval
from admin.workspace import workspace
from core.context import RequestContext
from core.governance import operations
from core.governance import service as governance
from core.iam import service as iam
from core.iam.schemas import BankSettings

router = APIRouter()

SWITCHES = ("dual_admin_default", "dual_admin_mandatory", "dual_control")
NUMBERS = ("change_request_hours", "dual_admin_trust_days")


def bank_settings_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    *,
    status: int = 200,
    entry: Entry | None = None,
) -> HTMLResponse:
    bank = iam.get_bank(session, ctx)
    ws = workspace(session, ctx)
    shown = bank.model_dump()
    # What waits for a second bank manager: the page links it, so nobody asks twice.
    waiting = (
        governance.list_requests(session, ctx, status="pending", kind="bank.settings").items
        if ws.holds("change_request.approve", "change.read")
        else []
    )
    return render(
        request,
        session,
        ctx,
        "bank_settings.html",
        ws=ws,
        status=status,
        title="Bank settings",
        bank=bank,
        waiting=waiting,
        may_edit=ws.holds("tenant.manage"),
        entry=entry
        or Entry(
            values={name: shown[name] for name in SWITCHES}
            | {name: str(shown[name]) for name in NUMBERS}
        ),
    )


@router.get("/bank-settings", name="console.bank_settings")
def bank_settings(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    return uow.run(lambda session, ctx: bank_settings_page(request, session, ctx))


@router.post("/bank-settings", name="console.change_bank_settings")
def change_bank_settings(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    switches = {name: forms.text(form, name, 5) == "true" for name in SWITCHES}
    typed = {name: forms.text(form, name, 6) for name in NUMBERS}

    def read(session: Session, ctx: RequestContext, entry: Entry) -> BankSettings | None:
        entry.values.update(typed, **switches)
        numbers = forms.whole_numbers(entry, typed)
        if entry.errors:
            return None
        return forms.build(entry, BankSettings, **switches, **numbers)

    def act(session: Session, ctx: RequestContext, body: BankSettings) -> Response:
        outcome = operations.update_bank_settings(session, ctx, body)
        return sent_for_approval(outcome) or redirect("/bank-settings", done="bank-updated")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return bank_settings_page(request, session, ctx, status=code, entry=entry)

    return forms.handle_form(uow, read, act, again, fields=SWITCHES + NUMBERS)
