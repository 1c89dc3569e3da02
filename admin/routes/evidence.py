"""The audit evidence, for compliance: the hash chains' latest signed checkpoints, the audit
key an auditor checks them with, and a form that downloads a signed export bundle of a
period (the same bundle as GET /v1/audit/export and `mandate audit export`)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin.deps import ConsoleUnit, services
from admin.forms import Entry
from admin.views import render
from admin.workspace import workspace
from core.audit import checkpoints as evidence
from core.audit import export as bundles
from core.context import RequestContext
from core.errors import MandateError
from core.fields import MAX_ID, in_calendar
from core.iam import service as iam

router = APIRouter()

Day = Annotated[str, Query(alias="from", max_length=10)]
LastDay = Annotated[str, Query(alias="to", max_length=10)]
TenantField = Annotated[str, Query(max_length=12)]
# The page shows the latest checkpoints; the API pages through all of them.
SHOWN = 20


def evidence_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    *,
    status: int = 200,
    entry: Entry | None = None,
) -> HTMLResponse:
    ws = workspace(session, ctx)
    key = evidence.published_key(session, ctx, services(request).audit_key)
    points = evidence.checkpoints(session, ctx, limit=SHOWN)
    if entry is None:
        # Last month, as an auditor usually asks for it.
        first_of_month = ctx.now().date().replace(day=1)
        last_month = (first_of_month - dt.timedelta(days=1)).replace(day=1)
        entry = Entry(
            values={
                "from": last_month.isoformat(),
                "to": (first_of_month - dt.timedelta(days=1)).isoformat(),
                "tenant": "",
            }
        )
    return render(
        request,
        session,
        ctx,
        "evidence.html",
        ws=ws,
        status=status,
        title="Audit evidence",
        key=key,
        fingerprint=hashlib.sha256(key.public_key_pem.encode()).hexdigest(),
        checkpoints=points.items,
        tenants={t.id: t.name for t in iam.list_tenants(session, ctx)},
        may_export=ws.holds("audit.export"),
        entry=entry,
    )


@router.get("/evidence", name="console.evidence")
def evidence_view(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    return uow.run(lambda session, ctx: evidence_page(request, session, ctx))


@router.get("/evidence/export", name="console.evidence_export")
def evidence_export(
    request: Request,
    uow: ConsoleUnit,
    first: Day = "",
    last: LastDay = "",
    tenant: TenantField = "",
) -> Response:
    def export(session: Session, ctx: RequestContext) -> Response:
        entry = Entry(values={"from": first, "to": last, "tenant": tenant})
        first_day, last_day = _day(entry, "from", first), _day(entry, "to", last)
        tenant_id = int(tenant) if tenant.isdigit() and 1 <= int(tenant) <= MAX_ID else None
        if tenant and tenant_id is None:
            entry.errors["tenant"] = "Choose a customer from the list."
        if entry.errors or first_day is None or last_day is None:
            return evidence_page(request, session, ctx, status=422, entry=entry)
        key = services(request).audit_key
        try:
            bundle = bundles.export_bundle(session, ctx, key, first_day, last_day, tenant_id)
        except MandateError as exc:
            if exc.status != 422:
                raise
            entry.errors[""] = exc.detail
            return evidence_page(request, session, ctx, status=422, entry=entry)
        name = bundles.bundle_name(tenant_id, first_day, last_day)
        return Response(
            bundle,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    return uow.run(export)


def _day(entry: Entry, name: str, text: str) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        entry.errors[name] = "A day, as 2026-11-30."
        return None
    if not in_calendar(day):
        entry.errors[name] = "A day of the calendar Mandate keeps."
        return None
    return day
