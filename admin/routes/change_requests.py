"""Dual administration in the console: the change requests waiting for a second person (their
count in the sidebar), each with its change as before and after, and approving or rejecting
it — the buttons shown only to someone the policy lets decide, and a forged form refused by
the same service the API calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit
from admin.forms import Entry
from admin.params import Cursor
from admin.views import redirect, render
from admin.workspace import workspace
from core.context import RequestContext
from core.fields import MAX_ID
from core.governance import service as governance

router = APIRouter()

ChangeRequestId = Annotated[int, Path(ge=1, le=MAX_ID)]
STATUSES = ("pending", "applied", "rejected", "refused", "expired")
KIND_LABELS = {
    "user.create": "New user",
    "user.update": "User change",
    "user.reset_password": "Password reset",
    "api_client.create": "New API client",
    "api_client.disable": "API client disabled",
    "role.create": "New role",
    "role.update": "Role change",
    "role.delete": "Role deletion",
    "grant.create": "New grant",
    "grant.update": "Grant change",
    "grant.revoke": "Grant revocation",
    "approval_rules.put": "Approval rules",
    "bank_approval_rules.put": "The bank's approval minimums",
    "cap.put": "Cap",
    "tenant.settings": "Customer's settings",
    "bank.settings": "The bank's rules for change",
}
StatusFilter = Annotated[str, Query(max_length=10)]
KindFilter = Annotated[str, Query(max_length=40)]


@router.get("/change-requests", name="console.change_requests")
def change_requests(
    request: Request,
    uow: ConsoleUnit,
    status: StatusFilter = "pending",
    kind: KindFilter = "",
    cursor: Cursor = None,
) -> HTMLResponse:
    chosen = {
        "status": status if status in STATUSES or status == "" else "pending",
        "kind": kind if kind in KIND_LABELS else "",
    }

    def page(session: Session, ctx: RequestContext) -> HTMLResponse:
        listed = governance.list_requests(
            session,
            ctx,
            status=chosen["status"] or None,
            kind=chosen["kind"] or None,
            cursor=cursor,
        )
        return render(
            request,
            session,
            ctx,
            "change_requests.html",
            ws=workspace(session, ctx),
            title="Change requests",
            page=listed,
            cursor=cursor,
            chosen=chosen,
            statuses=STATUSES,
            kinds=KIND_LABELS,
        )

    return uow.run(page)


def change_request_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    request_id: int,
    *,
    status: int = 200,
    problem: str = "",
) -> HTMLResponse:
    shown = governance.get_request(session, ctx, request_id)
    return render(
        request,
        session,
        ctx,
        "change_request.html",
        ws=workspace(session, ctx),
        status=status,
        title=f"Change request {shown.id}",
        cr=shown,
        kinds=KIND_LABELS,
        choices=governance.may_decide(session, ctx, request_id),
        approval_key=forms.new_key(),
        problem=problem,
    )


@router.get("/change-requests/{change_request_id}", name="console.change_request")
def change_request(
    request: Request, uow: ConsoleUnit, change_request_id: ChangeRequestId
) -> HTMLResponse:
    return uow.run(
        lambda session, ctx: change_request_page(request, session, ctx, change_request_id)
    )


@router.post("/change-requests/{change_request_id}/approve", name="console.approve_change")
def approve(
    request: Request, uow: ConsoleUnit, change_request_id: ChangeRequestId, form: CheckedForm
) -> Response:
    key = forms.text(form, "idempotency_key", 255)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> str | None:
        if not key:
            entry.error("", "The form is incomplete: reload the page and try again.")
            return None
        return key

    def act(session: Session, ctx: RequestContext, key: str) -> Response:
        decided = governance.approve(session, ctx, change_request_id, key)
        done = "change-applied" if decided.status == "applied" else "change-refused"
        return redirect(f"/change-requests/{change_request_id}", done=done)

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        problem = entry.errors.get("", "")
        return change_request_page(
            request, session, ctx, change_request_id, status=code, problem=problem
        )

    return forms.handle_form(uow, read, act, again)


@router.post("/change-requests/{change_request_id}/reject", name="console.reject_change")
def reject(
    request: Request, uow: ConsoleUnit, change_request_id: ChangeRequestId, form: CheckedForm
) -> Response:
    reason = forms.text(form, "reason", 500)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> str:
        return reason

    def act(session: Session, ctx: RequestContext, reason: str) -> Response:
        governance.reject(session, ctx, change_request_id, reason)
        return redirect(f"/change-requests/{change_request_id}", done="change-rejected")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        problem = entry.errors.get("", "")
        return change_request_page(
            request, session, ctx, change_request_id, status=code, problem=problem
        )

    return forms.handle_form(uow, read, act, again)
