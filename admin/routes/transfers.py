"""Sending a transfer between the company's own accounts, and its status.

The form carries an idempotency key from the moment it is shown: however often it is sent
(a double click, a retry after a network error, a reload), one transfer is made, and every
answer after the first shows that same transfer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit
from admin.forms import Entry
from admin.pages import account_names
from admin.params import TransferId
from admin.views import redirect, render
from admin.workspace import accounts_for
from core.context import RequestContext
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
    uow: ConsoleUnit,
    source: Annotated[int | None, Query(alias="from", ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    entry = Entry(values={"from_account_id": source, "idempotency_key": forms.new_key()})
    return uow.run(lambda session, ctx: transfer_form(request, session, ctx, entry))


@router.post("/transfers", name="console.send_transfer")
def send_transfer(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    from_id = forms.ident(form, "from_account_id")
    to_id = forms.ident(form, "to_account_id")
    typed = forms.text(form, "amount", 40)
    description = forms.text(form, "description", 140)
    key = forms.text(form, "idempotency_key", 255)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> TransferCreate | None:
        entry.values.update(
            from_account_id=from_id,
            to_account_id=to_id,
            amount=typed,
            description=description,
            idempotency_key=key,
        )
        source = next(
            (a for a in accounts_for(session, ctx, "transfer.create") if a.id == from_id), None
        )
        if source is None:
            entry.error("from_account_id", "Choose an account to send from.")
        if to_id is None:
            entry.error("to_account_id", "Choose the account that receives the money.")
        currency = source.currency if source else None
        value = forms.amount(entry, "amount", typed, currency, required=True)
        if not key:
            entry.error("", "This form is incomplete; reload the page and fill it in again.")
        if entry.errors or source is None:
            return None
        return forms.build(
            entry,
            TransferCreate,
            from_account_id=source.id,
            to_account_id=to_id,
            amount=value,
            currency=source.currency,
            description=description,
        )

    def act(session: Session, ctx: RequestContext, body: TransferCreate) -> Response:
        result = ledger.create_transfer(session, ctx, body, key)
        done = "replayed" if result.replayed else "posted"
        return redirect(f"/transfers/{result.transfer.id}", done=done)

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return transfer_form(request, session, ctx, entry, status=code)

    return forms.handle_form(uow, read, act, again, fields=FIELDS)


def transfer_page(
    request: Request, session: Session, ctx: RequestContext, transfer_id: int
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


@router.get("/transfers/{transfer_id}", name="console.transfer")
def transfer(request: Request, uow: ConsoleUnit, transfer_id: TransferId) -> HTMLResponse:
    return uow.run(lambda session, ctx: transfer_page(request, session, ctx, transfer_id))
