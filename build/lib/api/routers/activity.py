"""Your own recent actions, refused attempts included."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ApiSession, Context
from api.errors import error_responses
from api.params import Cursor, Limit
from core.audit.service import ActivityPublic, my_activity
from core.pagination import Page

router = APIRouter(prefix="/v1", tags=["activity"])


@router.get(
    "/activity",
    response_model=Page[ActivityPublic],
    summary="What you did recently, and how it ended (refusals included)",
    responses=error_responses(),
)
def activity(
    session: ApiSession,
    ctx: Context,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[ActivityPublic]:
    return my_activity(session, ctx, cursor=cursor, limit=limit)
