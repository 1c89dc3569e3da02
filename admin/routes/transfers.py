"""Sending a transfer between the company's own accounts, and its status.

The form carries an idempotency key from the moment it is shown: however often it is sent
(a double click, a retry after a network error, a reload), one transfer is made, and every
answer after the first shows that same transfer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from admin import forms
from admin.deps import CheckedForm, ConsoleContext
from admin.forms import Entry
from admin.routes.accounts import account_names
from admin.views import redirect, render
from admin.workspace import accounts_for
from api.deps import DbSession
from api.params import TransferId
from core.context import RequestContext
from core.errors import MandateError
from core.fields import MAX_ID
from core.ledger import service as ledger
from core.ledger.schemas import TransferCreate
from core.pagination import MAX_PAGE

router = APIRouter()

FIELDS = ("from_account_id", "to_account_id", "amount", "description")


def transfer_form(
    request: Request, session: Session, ctx: RequestContext, entry: Entry, *, status: int = 200
) -> HTMLResponse:
    sources = accounts_for(session, ctx, "transfer.create")
    targets = [
        a
        for a in ledger.list_accounts(session, ctx, limit=MAX_PAGE).items
        if a.kind == "customer" and a.status != "closed"
    ]
    return render(
        request,
        session,
        ctx,
        "transfer_new.html",
        status=status,
        title="New transfer",
        sources=sources,
        targets=targets,
        entry=entry,
    )


@router.get("/transfers/new", name="console.new_transfer")
def new_transfer(
    request: Request,
    session: DbSession,
    ctx: ConsoleContext,
    source: Annotated[int | None, Query(alias="from", ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    entry = Entry(values={"from_account_id": source, "idempotency_key": forms.new_key()})
    return transfer_form(request, session, ctx, entry)


@router.post("/transfers", name="console.send_transfer")
def send_transfer(
    request: Request, session: DbSession, ctx: ConsoleContext, form: CheckedForm
) -> Response:
    from_id = forms.ident(form, "from_account_id")
    to_id = forms.ident(form, "to_account_id")
    typed = forms.text(form, "amount", 40)
    description = forms.text(form, "description", 140)
    key = forms.text(form, "idempotency_key", 255)
    entry = Entry(
        values={
            "from_account_id": from_id,
            "to_account_id": to_id,
            "amount": typed,
            "description": description,
            "idempotency_key": key,
        }
    )

    def again(exc: MandateError | None) -> Response:
        if exc is not None and exc.code == "idempotency_key_reused":
            # The page was used for another transfer already: this one needs a fresh key.
            entry.values["idempotency_key"] = forms.new_key()
        return transfer_form(request, session, ctx, entry, status=exc.status if exc else 422)

    source = next(
        (a for a in accounts_for(session, ctx, "transfer.create") if a.id == from_id), None
    )
    if source is None:
        entry.error("from_account_id", "Choose an account to send from.")
    if to_id is None:
        entry.error("to_account_id", "Choose the account that receives the money.")
    value = forms.amount(entry, "amount", typed, source.currency if source else None, required=True)
    if not key:
        entry.error("", "This form is incomplete; reload the page and fill it in again.")
    if entry.errors or source is None:
        raise forms.refuse(entry, again)
    try:
        body = TransferCreate(
            from_account_id=source.id,
            to_account_id=to_id,
            amount=value,
            currency=source.currency,
            description=description,
        )
    except ValidationError as exc:
        entry.take_validation(exc)
        raise forms.refuse(entry, again) from exc
    with forms.refusals(entry, FIELDS, again):
        result = ledger.create_transfer(session, ctx, body, key)
    done = "replayed" if result.replayed else "posted"
    return redirect(f"/transfers/{result.transfer.id}", done=done)


@router.get("/transfers/{transfer_id}", name="console.transfer")
def transfer(
    request: Request, session: DbSession, ctx: ConsoleContext, transfer_id: TransferId
) -> HTMLResponse:
    moved = ledger.get_transfer(session, ctx, transfer_id)
    return render(
        request,
        session,
        ctx,
        "transfer.html",
        title=f"Transfer {moved.id}",
        transfer=moved,
        names=account_names(session, ctx),
    )
