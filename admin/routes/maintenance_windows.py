"""Maintenance windows, for the bank's staff: those the bank announced (compliance reads
them), and for bank managers a form to announce one and a button to cancel one or end it
early. Times are typed in UTC, as the banner and the API show them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit, services
from admin.forms import Entry
from admin.params import MaintenanceWindowId
from admin.views import redirect, render
from admin.workspace import workspace
from core.context import RequestContext
from core.operations import service
from core.operations.schemas import MaintenanceWindowCreate

router = APIRouter()

FIELDS = ("starts_at", "ends_at", "mode", "message")


def windows_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    *,
    status: int = 200,
    entry: Entry | None = None,
) -> HTMLResponse:
    windows = service.list_windows(session, ctx)
    ws = workspace(session, ctx)
    return render(
        request,
        session,
        ctx,
        "maintenance_windows.html",
        ws=ws,
        status=status,
        title="Maintenance windows",
        windows=windows,
        may_edit=ws.holds("maintenance_window.manage"),
        notice_days=services(request).settings.maintenance_notice_days,
        entry=entry or Entry(values={"mode": "read_only"}),
    )


@router.get("/maintenance-windows", name="console.maintenance_windows")
def maintenance_windows(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    return uow.run(lambda session, ctx: windows_page(request, session, ctx))


@router.post("/maintenance-windows", name="console.announce_maintenance_window")
def announce(request: Request, uow: ConsoleUnit, form: CheckedForm) -> Response:
    def read(session: Session, ctx: RequestContext, entry: Entry) -> MaintenanceWindowCreate | None:
        starts = forms.local_datetime(entry, "starts_at", forms.text(form, "starts_at", 40), "UTC")
        ends = forms.local_datetime(entry, "ends_at", forms.text(form, "ends_at", 40), "UTC")
        entry.values.update(mode=forms.text(form, "mode", 16), message=forms.text(form, "message"))
        if entry.errors:
            return None
        return forms.build(
            entry,
            MaintenanceWindowCreate,
            starts_at=starts,
            ends_at=ends,
            mode=entry.values["mode"],
            message=entry.values["message"],
        )

    def act(session: Session, ctx: RequestContext, body: MaintenanceWindowCreate) -> Response:
        service.schedule_window(session, ctx, body)
        return redirect("/maintenance-windows", done="maintenance-announced")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        return windows_page(request, session, ctx, status=code, entry=entry)

    answer = forms.handle_form(uow, read, act, again, fields=FIELDS)
    services(request).maintenance.forget()
    return answer


@router.post("/maintenance-windows/{window_id}/cancel", name="console.cancel_maintenance_window")
def cancel(
    request: Request, uow: ConsoleUnit, window_id: MaintenanceWindowId, _form: CheckedForm
) -> Response:
    uow.run(service.cancel_window, window_id)
    services(request).maintenance.forget()
    return redirect("/maintenance-windows", done="maintenance-cancelled")
