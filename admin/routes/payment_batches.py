"""Payment batches in the console: the list with the upload form (a pain.001 file, as the
company's ERP software writes it), a batch with its items (each with its status and, refused,
its reason), its approval trail and what approving would do, and approving, rejecting and
cancelling it as one.

The upload form carries its own idempotency key, as every money-moving form does; which
buttons a batch's page shows is asked of the policy without recording it
(batches.batch_choices); pressing one asks again, so a forged form is refused all the same."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData, UploadFile

from admin import forms
from admin.decision_forms import INCOMPLETE, Ending, Page, approval_form, ending_form
from admin.deps import CheckedForm, ConsoleUnit
from admin.forms import Entry
from admin.pages import account_names
from admin.params import BatchId, Cursor
from admin.views import redirect, render
from core.batches import service as batches
from core.batches.pain001 import MAX_FILE_BYTES, MAX_TRANSFERS, VERSIONS
from core.context import RequestContext
from core.errors import MandateError
from core.payments import service as payments
from core.payments.schemas import PaymentEnd

router = APIRouter()


def batches_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    cursor: str | None,
    *,
    entry: Entry | None = None,
    refused: list[dict[str, Any]] | None = None,
    status: int = 200,
) -> HTMLResponse:
    page = batches.list_batches(session, ctx, cursor=cursor, limit=25)
    form = entry or Entry()
    form.values.setdefault("idempotency_key", forms.new_key())
    return render(
        request,
        session,
        ctx,
        "payment_batches.html",
        status=status,
        title="Payment files",
        page=page,
        cursor=cursor,
        names=account_names(session, ctx),
        people=payments.colleague_names(session, ctx, [b.initiated_by for b in page.items]),
        entry=form,
        refused=refused or [],
        versions=VERSIONS,
        max_megabytes=MAX_FILE_BYTES // (1024 * 1024),
        max_transfers=MAX_TRANSFERS,
    )


@router.get("/payment-batches", name="console.payment_batches")
def batch_list(request: Request, uow: ConsoleUnit, cursor: Cursor = None) -> HTMLResponse:
    return uow.run(lambda session, ctx: batches_page(request, session, ctx, cursor))


def _file_of(form: FormData) -> bytes | None:
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        return None
    return upload.file.read(MAX_FILE_BYTES + 1)


@router.post("/payment-batches", name="console.upload_payment_batch")
def upload(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    key = forms.text(form, "idempotency_key", 255)
    data = _file_of(form)
    refused: list[dict[str, Any]] = []

    def read(session: Session, ctx: RequestContext, entry: Entry) -> bytes | None:
        entry.values["idempotency_key"] = key or forms.new_key()
        if not key:
            entry.error("", INCOMPLETE)
        if not data:
            entry.error("file", "Choose the payment file (pain.001) to upload.")
        return data

    def act(session: Session, ctx: RequestContext, body: bytes) -> Response:
        try:
            result = batches.create_batch(session, ctx, body, key)
        except MandateError as exc:
            refused.extend((exc.context.get("body") or {}).get("items", []))
            raise
        done = "batch-replayed" if result.replayed else f"batch-{result.batch.status}"
        return redirect(f"/payment-batches/{result.batch.id}", done=done)

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return batches_page(request, session, ctx, None, entry=entry, refused=refused, status=code)

    return forms.handle_form(uow, read, act, again, fields=("file",))


def batch_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    batch_id: int,
    *,
    status: int = 200,
    problem: str = "",
    rejection: Entry | None = None,
    cancellation: Entry | None = None,
) -> HTMLResponse:
    batch = batches.get_batch(session, ctx, batch_id)
    took_part = [batch.initiated_by, *(a.approver for a in batch.approvals)]
    if batch.ended_by is not None:
        took_part.append(batch.ended_by)
    return render(
        request,
        session,
        ctx,
        "payment_batch.html",
        status=status,
        title=f"Payment file {batch.id}",
        batch=batch,
        choices=batches.batch_choices(session, ctx, batch_id),
        people=payments.colleague_names(session, ctx, took_part),
        names=account_names(session, ctx),
        approval_key=forms.new_key(),
        problem=problem,
        rejection=rejection or Entry(),
        cancellation=cancellation or Entry(),
    )


@router.get("/payment-batches/{batch_id}", name="console.payment_batch")
def batch(request: Request, uow: ConsoleUnit, batch_id: BatchId) -> HTMLResponse:
    return uow.run(lambda session, ctx: batch_page(request, session, ctx, batch_id))


@router.post("/payment-batches/{batch_id}/approve", name="console.approve_payment_batch")
def approve(request: Request, uow: ConsoleUnit, batch_id: BatchId, form: CheckedForm) -> Response:
    def act(session: Session, ctx: RequestContext, key: str) -> Response:
        result = batches.approve_batch(session, ctx, batch_id, key)
        done = "batch-approval-replayed" if result.replayed else f"batch-{result.batch.status}"
        return redirect(f"/payment-batches/{batch_id}", done=done)

    return approval_form(uow, form, act, _page(request, batch_id))


def _end(
    request: Request, uow: ConsoleUnit, batch_id: int, form: FormData, kind: Ending
) -> Response:
    def act(session: Session, ctx: RequestContext, body: PaymentEnd) -> Response:
        end = batches.reject_batch if kind == "reject" else batches.cancel_batch
        ended = end(session, ctx, batch_id, body)
        return redirect(f"/payment-batches/{batch_id}", done=f"batch-{ended.status}")

    return ending_form(uow, form, kind, act, _page(request, batch_id))


def _page(request: Request, batch_id: int) -> Page:
    return partial(batch_page, request, batch_id=batch_id)


@router.post("/payment-batches/{batch_id}/reject", name="console.reject_payment_batch")
def reject(request: Request, uow: ConsoleUnit, batch_id: BatchId, form: CheckedForm) -> Response:
    return _end(request, uow, batch_id, form, "reject")


@router.post("/payment-batches/{batch_id}/cancel", name="console.cancel_payment_batch")
def cancel(request: Request, uow: ConsoleUnit, batch_id: BatchId, form: CheckedForm) -> Response:
    return _end(request, uow, batch_id, form, "cancel")
