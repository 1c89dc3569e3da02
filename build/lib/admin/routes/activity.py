"""Your own recent actions and how they ended, refusals included, in plain words."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from admin.deps import ConsoleContext
from admin.routes.accounts import account_names
from admin.views import render
from api.deps import DbSession
from api.params import Cursor
from core.audit.service import my_activity

router = APIRouter()


@router.get("/activity", name="console.activity")
def activity(
    request: Request, session: DbSession, ctx: ConsoleContext, cursor: Cursor = None
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
