"""The console's approve, reject and cancel forms, one way for a payment and for a payment
batch (approved, rejected and cancelled as one payment of its total): an approval carries
its idempotency key, an ending its reason; a refusal shows the page again with the problem
beside the form that was sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from admin import forms
from admin.forms import Entry
from core.context import RequestContext
from core.payments.schemas import PaymentEnd
from core.uow import UnitOfWork

INCOMPLETE = "This form is incomplete; reload the page and fill it in again."
Ending = Literal["reject", "cancel"]


class Page(Protocol):
    """The decided thing's page again, with a refusal (`problem`) or the ending form sent."""

    def __call__(
        self,
        session: Session,
        ctx: RequestContext,
        *,
        status: int,
        problem: str,
        rejection: Entry | None = None,
        cancellation: Entry | None = None,
    ) -> HTMLResponse: ...


def approval_form(
    uow: UnitOfWork,
    form: FormData,
    approve: Callable[[Session, RequestContext, str], Response],
    page: Page,
) -> Response:
    """Approve with the form's idempotency key (`approve` answers the redirect)."""
    key = forms.text(form, "idempotency_key", 255)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> str | None:
        if not key:
            entry.error("", INCOMPLETE)
            return None
        return key

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return page(session, ctx, status=code, problem=entry.errors.get("", ""))

    return forms.handle_form(uow, read, approve, again)


def ending_form(
    uow: UnitOfWork,
    form: FormData,
    kind: Ending,
    end: Callable[[Session, RequestContext, PaymentEnd], Response],
    page: Page,
) -> Response:
    """Reject or cancel with the form's reason (`end` answers the redirect)."""
    reason = forms.text(form, "reason", 500)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> PaymentEnd | None:
        entry.values["reason"] = reason
        return forms.build(entry, PaymentEnd, reason=reason)

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return page(
            session,
            ctx,
            status=code,
            problem=entry.errors.get("", ""),
            rejection=entry if kind == "reject" else None,
            cancellation=entry if kind == "cancel" else None,
        )

    return forms.handle_form(uow, read, end, again, fields=("reason",))
