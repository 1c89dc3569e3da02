"""Your own recent actions and how they ended, refusals included, in plain words."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from admin.deps import ConsoleUnit
from admin.pages import account_names
from admin.params import Cursor
from admin.views import render
from core.audit.service import my_activity
from core.context import RequestContext

router = APIRouter()


def activity_page(
    request: Request, session: Session, ctx: RequestContext, cursor: str | None
) -> HTMLResponse:
    page = my_activity(session, ctx, cursor=cursor, limit=25)
    return render(
        request,
        session,
        ctx,
        "activity.html",
        title="My activity",
        page=page,
        cursor=cursor,
        names=account_names(session, ctx),
    )


@router.get("/activity", name="console.activity")
def activity(request: Request, uow: ConsoleUnit, cursor: Cursor = None) -> HTMLResponse:
    return uow.run(lambda session, ctx: activity_page(request, session, ctx, cursor))
