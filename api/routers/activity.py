"""Your own recent actions, refused attempts included."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Context, DbSession
from api.errors import error_responses
from core.audit.service import ActivityPublic, my_activity
from core.pagination import MAX_PAGE, Page

router = APIRouter(prefix="/v1", tags=["activity"])


@router.get(
    "/activity",
    response_model=Page[ActivityPublic],
    summary="What you did recently, and how it ended (refusals included)",
    responses=error_responses(401, 422),
)
def activity(
    session: DbSession,
    ctx: Context,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
) -> Page[ActivityPublic]:
    return my_activity(session, ctx, cursor=cursor, limit=limit)
