"""Beneficiaries: the company's payees with their status (active, or awaiting a second
person's approval) and kind (internal: an account of this bank; external), adding one,
approving one another person added, deleting one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit
from admin.forms import Entry
from admin.pages import tenant_names
from admin.params import BeneficiaryId, Cursor
from admin.views import redirect, render
from admin.workspace import workspace
from core.context import RequestContext
from core.iam import service as iam
from core.pagination import MAX_PAGE
from core.payments import beneficiaries
from core.payments.beneficiary_schemas import BeneficiaryCreate, BeneficiaryStatus

router = APIRouter()

BENEFICIARY_FIELDS = ("name", "iban", "bic", "reference_template")
StatusFilter = Annotated[BeneficiaryStatus | None, Query()]


def beneficiaries_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    *,
    cursor: str | None = None,
    only: BeneficiaryStatus | None = None,
    status: int = 200,
    new_beneficiary: Entry | None = None,
    problem: str = "",
) -> HTMLResponse:
    page = beneficiaries.list_beneficiaries(session, ctx, status=only, cursor=cursor)
    ws = workspace(session, ctx)
    people = (
        {u.id: u.display_name for u in iam.list_users(session, ctx, limit=MAX_PAGE).items}
        if ws.holds("user.read")
        else {}
    )
    return render(
        request,
        session,
        ctx,
        "beneficiaries.html",
        ws=ws,
        status=status,
        title="Beneficiaries",
        page=page,
        cursor=cursor,
        only=only,
        people=people,
        tenants=tenant_names(session, ctx, ws),
        new_beneficiary=new_beneficiary or Entry(),
        problem=problem,
        now=ctx.now(),
    )


@router.get("/beneficiaries", name="console.beneficiaries")
def beneficiaries_list(
    request: Request, uow: ConsoleUnit, cursor: Cursor = None, status: StatusFilter = None
) -> HTMLResponse:
    return uow.run(
        lambda session, ctx: beneficiaries_page(request, session, ctx, cursor=cursor, only=status)
    )


@router.post("/beneficiaries", name="console.add_beneficiary")
def add_beneficiary(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    values = {
        "name": forms.text(form, "name", 100),
        "iban": forms.text(form, "iban", 50),
        "bic": forms.text(form, "bic", 11),
        "reference_template": forms.text(form, "reference_template", 140),
    }

    def read(session: Session, ctx: RequestContext, entry: Entry) -> BeneficiaryCreate | None:
        entry.values.update(values)
        if not values["name"]:
            entry.error("name", "Enter the beneficiary's name.")
        if not values["iban"]:
            entry.error("iban", "Enter the IBAN.")
        if entry.errors:
            return None
        return forms.build(entry, BeneficiaryCreate, **{**values, "bic": values["bic"] or None})

    def act(session: Session, ctx: RequestContext, body: BeneficiaryCreate) -> Response:
        added = beneficiaries.create_beneficiary(session, ctx, body)
        waits = added.status == "pending_approval"
        return redirect(
            "/beneficiaries", done="beneficiary-pending" if waits else "beneficiary-added"
        )

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return beneficiaries_page(request, session, ctx, status=code, new_beneficiary=entry)

    return forms.handle_form(uow, read, act, again, fields=BENEFICIARY_FIELDS)


def _one_action(
    request: Request, uow: ConsoleUnit, beneficiary_id: int, *, approve: bool
) -> Response:
    """Approve or delete one beneficiary from the list; a refusal is shown above it."""

    def read(session: Session, ctx: RequestContext, entry: Entry) -> int:
        return beneficiary_id

    def act(session: Session, ctx: RequestContext, body: int) -> Response:
        if approve:
            beneficiaries.approve_beneficiary(session, ctx, body)
            return redirect("/beneficiaries", done="beneficiary-approved")
        beneficiaries.delete_beneficiary(session, ctx, body)
        return redirect("/beneficiaries", done="beneficiary-deleted")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        problem = entry.errors.get("", "")
        return beneficiaries_page(request, session, ctx, status=code, problem=problem)

    return forms.handle_form(uow, read, act, again)


@router.post("/beneficiaries/{beneficiary_id}/approve", name="console.approve_beneficiary")
def approve_beneficiary(
    request: Request, uow: ConsoleUnit, beneficiary_id: BeneficiaryId, form: CheckedForm
) -> Response:
    return _one_action(request, uow, beneficiary_id, approve=True)


@router.post("/beneficiaries/{beneficiary_id}/delete", name="console.delete_beneficiary")
def delete_beneficiary(
    request: Request, uow: ConsoleUnit, beneficiary_id: BeneficiaryId, form: CheckedForm
) -> Response:
    return _one_action(request, uow, beneficiary_id, approve=False)
