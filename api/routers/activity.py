"""Your own recent actions, refused attempts included."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ApiUnit
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
    uow: ApiUnit,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[ActivityPublic]:
    return uow.run(my_activity, cursor=cursor, limit=limit)
