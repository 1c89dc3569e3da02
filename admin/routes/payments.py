"""Payments to beneficiaries under dual control: the list, the payment form (which checks,
before anything is sent, whether the payment will need approval and from whom), a payment
with its approval trail, approving, rejecting and cancelling it, and the approvals inbox.

Like the transfer form, the payment form carries its own idempotency key, and so does each
Approve button: a double click or a retry makes one payment, and counts one approval. Which
buttons a payment's page shows is asked of the policy without recording it
(payments.payment_choices); pressing one asks again, so a forged form is refused all the
same."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from admin import forms
from admin.decision_forms import INCOMPLETE, Ending, Page, approval_form, ending_form
from admin.deps import CheckedForm, ConsoleUnit
from admin.forms import Entry
from admin.pages import account_names
from admin.params import Cursor, PaymentId
from admin.views import redirect, render
from admin.workspace import accounts_for
from core.batches import service as batches
from core.context import RequestContext
from core.errors import Forbidden, MandateError
from core.fields import MAX_ID
from core.payments import service as payments
from core.payments.schemas import (
    EXECUTION_HORIZON_DAYS,
    PaymentCreate,
    PaymentEnd,
    PaymentPreview,
    PaymentStatus,
)

router = APIRouter()

FIELDS = ("account_id", "beneficiary_id", "amount", "reference", "execution_date")
# A payment's beneficiary stands where a transfer's receiving account does.
ALIASES = {"to_account_id": "beneficiary_id", "from_account_id": "account_id"}

StatusFilter = Annotated[Literal["", PaymentStatus], Query()]
OptionalId = Annotated[str, Query(max_length=12)]


@dataclass(frozen=True)
class Typed:
    """What a payment form carries, as typed (a check sends it as a query, Send as a form)."""

    account_id: int | None
    beneficiary_id: int | None
    amount: str
    reference: str
    execution_date: str
    key: str

    @classmethod
    def of(cls, form: FormData) -> Typed:
        return cls(
            account_id=forms.ident(form, "account_id"),
            beneficiary_id=forms.ident(form, "beneficiary_id"),
            amount=forms.text(form, "amount", 40),
            reference=forms.text(form, "reference", 140),
            execution_date=forms.text(form, "execution_date", 10),
            key=forms.text(form, "idempotency_key", 255),
        )

    def show(self, entry: Entry) -> None:
        entry.values.update(
            account_id=self.account_id,
            beneficiary_id=self.beneficiary_id,
            amount=self.amount,
            reference=self.reference,
            execution_date=self.execution_date,
            idempotency_key=self.key or forms.new_key(),
        )


def read_payment(
    session: Session, ctx: RequestContext, entry: Entry, typed: Typed
) -> PaymentCreate | None:
    """The payment a form asks for, in the paying account's currency; None, with the
    mistakes beside their fields, if it is not complete."""
    typed.show(entry)
    source = next(
        (a for a in accounts_for(session, ctx, "payment.create") if a.id == typed.account_id),
        None,
    )
    if source is None:
        entry.error("account_id", "Choose the account to pay from.")
    if typed.beneficiary_id is None:
        entry.error("beneficiary_id", "Choose who to pay.")
    value = forms.amount(
        entry, "amount", typed.amount, source.currency if source else None, required=True
    )
    execution_date = forms.local_date(entry, "execution_date", typed.execution_date)
    if entry.errors or source is None:
        return None
    return forms.build(
        entry,
        PaymentCreate,
        account_id=source.id,
        beneficiary_id=typed.beneficiary_id,
        amount=value,
        currency=source.currency,
        reference=typed.reference,
        execution_date=execution_date,
    )


def check_payment(
    session: Session, ctx: RequestContext, entry: Entry, body: PaymentCreate
) -> PaymentPreview | None:
    """What sending would do (nothing is held or sent); a refusal goes beside its field."""
    try:
        preview = payments.preview_payment(session, ctx, body)
    except MandateError as exc:
        entry.place(exc, FIELDS, ALIASES)
        return None
    if preview.outcome == "refused":
        refusal = Forbidden(preview.detail or "", code=preview.error or "forbidden")
        entry.place(refusal, FIELDS, ALIASES)
        return None
    return preview


def payment_form(
    request: Request,
    session: Session,
    ctx: RequestContext,
    entry: Entry,
    *,
    preview: PaymentPreview | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        session,
        ctx,
        "payment_new.html",
        status=status,
        title="New payment",
        sources=accounts_for(session, ctx, "payment.create"),
        payees=payments.payable_beneficiaries(session, ctx),
        entry=entry,
        preview=preview,
        horizon_days=EXECUTION_HORIZON_DAYS,
    )


@router.get("/payments/new", name="console.new_payment")
def new_payment(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    """The form; with ?check=1, the form as typed and what sending it would do. A check is a
    question, not an action: a GET, recorded nowhere, that leaves the form's key as it was."""
    query = FormData(request.query_params)
    typed = Typed.of(query)

    def page(session: Session, ctx: RequestContext) -> HTMLResponse:
        entry = Entry()
        preview = None
        if forms.text(query, "check", 5):
            body = read_payment(session, ctx, entry, typed)
            preview = check_payment(session, ctx, entry, body) if body else None
        else:
            typed.show(entry)
        return payment_form(request, session, ctx, entry, preview=preview)

    return uow.run(page)


@router.post("/payments", name="console.send_payment")
def send_payment(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    typed = Typed.of(form)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> PaymentCreate | None:
        body = read_payment(session, ctx, entry, typed)
        if not typed.key:
            entry.error("", INCOMPLETE)
        return body

    def act(session: Session, ctx: RequestContext, body: PaymentCreate) -> Response:
        result = payments.create_payment(session, ctx, body, typed.key)
        made = result.payment
        done = (
            "payment-replayed"
            if result.replayed
            else {
                "posted": "payment-posted",
                "sent": "payment-sent",
                "scheduled": "payment-scheduled",
            }.get(made.status, "payment-pending")
        )
        return redirect(f"/payments/{made.id}", done=done)

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return payment_form(request, session, ctx, entry, status=code)

    return forms.handle_form(uow, read, act, again, fields=FIELDS, aliases=ALIASES)


def payments_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    status: str,
    account_id: int | None,
    cursor: str | None,
) -> HTMLResponse:
    page = payments.list_payments(
        session, ctx, status=status or None, account_id=account_id, cursor=cursor, limit=25
    )
    return render(
        request,
        session,
        ctx,
        "payments.html",
        title="Payments",
        page=page,
        cursor=cursor,
        chosen={"status": status, "account": account_id or ""},
        names=account_names(session, ctx),
        people=payments.colleague_names(session, ctx, [p.initiated_by for p in page.items]),
    )


@router.get("/payments", name="console.payments")
def payment_list(
    request: Request,
    uow: ConsoleUnit,
    status: StatusFilter = "",
    account: OptionalId = "",
    cursor: Cursor = None,
) -> HTMLResponse:
    account_id = int(account) if account.isdigit() and 1 <= int(account) <= MAX_ID else None
    return uow.run(
        lambda session, ctx: payments_page(request, session, ctx, status, account_id, cursor)
    )


def payment_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    payment_id: int,
    *,
    status: int = 200,
    problem: str = "",
    rejection: Entry | None = None,
    cancellation: Entry | None = None,
) -> HTMLResponse:
    payment = payments.get_payment(session, ctx, payment_id)
    took_part = [payment.initiated_by, *(a.approver for a in payment.approvals)]
    if payment.ended_by is not None:
        took_part.append(payment.ended_by)
    return render(
        request,
        session,
        ctx,
        "payment.html",
        status=status,
        title=f"Payment {payment.id}",
        payment=payment,
        choices=payments.payment_choices(session, ctx, payment_id),
        people=payments.colleague_names(session, ctx, took_part),
        names=account_names(session, ctx),
        approval_key=forms.new_key(),
        problem=problem,
        rejection=rejection or Entry(),
        cancellation=cancellation or Entry(),
    )


@router.get("/payments/{payment_id}", name="console.payment")
def payment(request: Request, uow: ConsoleUnit, payment_id: PaymentId) -> HTMLResponse:
    return uow.run(lambda session, ctx: payment_page(request, session, ctx, payment_id))


@router.post("/payments/{payment_id}/approve", name="console.approve_payment")
def approve(
    request: Request, uow: ConsoleUnit, payment_id: PaymentId, form: CheckedForm
) -> Response:
    # Approved from the inbox: back to the inbox (one fixed place, never a URL from the form).
    back = "/approvals" if forms.text(form, "back", 10) == "inbox" else f"/payments/{payment_id}"

    def act(session: Session, ctx: RequestContext, key: str) -> Response:
        result = payments.approve_payment(session, ctx, payment_id, key)
        done = (
            "approval-replayed"
            if result.replayed
            else {
                "posted": "approved-posted",
                "sent": "approved-sent",
                "scheduled": "approved-scheduled",
            }.get(result.payment.status, "approved")
        )
        return redirect(back, done=done)

    return approval_form(uow, form, act, _page(request, payment_id))


def _end(
    request: Request, uow: ConsoleUnit, payment_id: int, form: FormData, kind: Ending
) -> Response:
    def act(session: Session, ctx: RequestContext, body: PaymentEnd) -> Response:
        end = payments.reject_payment if kind == "reject" else payments.cancel_payment
        end(session, ctx, payment_id, body)
        done = "payment-rejected" if kind == "reject" else "payment-cancelled"
        return redirect(f"/payments/{payment_id}", done=done)

    return ending_form(uow, form, kind, act, _page(request, payment_id))


def _page(request: Request, payment_id: int) -> Page:
    return partial(payment_page, request, payment_id=payment_id)


@router.post("/payments/{payment_id}/reject", name="console.reject_payment")
def reject(
    request: Request, uow: ConsoleUnit, payment_id: PaymentId, form: CheckedForm
) -> Response:
    return _end(request, uow, payment_id, form, "reject")


@router.post("/payments/{payment_id}/cancel", name="console.cancel_payment")
def cancel(
    request: Request, uow: ConsoleUnit, payment_id: PaymentId, form: CheckedForm
) -> Response:
    return _end(request, uow, payment_id, form, "cancel")


def inbox_page(request: Request, session: Session, ctx: RequestContext) -> HTMLResponse:
    items = payments.inbox(session, ctx)
    batch_items = batches.batch_inbox(session, ctx)
    uploaded_by = [i.batch.initiated_by for i in batch_items]
    return render(
        request,
        session,
        ctx,
        "approvals.html",
        title="Approvals",
        items=items,
        batch_items=batch_items,
        names=account_names(session, ctx),
        people=payments.colleague_names(
            session, ctx, [*(i.payment.initiated_by for i in items), *uploaded_by]
        ),
        keys={i.payment.id: forms.new_key() for i in items},
    )


@router.get("/approvals", name="console.approvals")
def approvals(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    return uow.run(lambda session, ctx: inbox_page(request, session, ctx))
