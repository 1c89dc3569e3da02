"""A GDPR access request in the console: everything Mandate holds about one person, as the
JSON file GET /v1/users/{id}/personal-data answers, downloaded (the person themself, their
company's admin, compliance: the policy's personal_data.read)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.orm import Session

from admin.deps import ConsoleUnit
from admin.params import UserId
from core.audit import personal
from core.context import RequestContext

router = APIRouter()


@router.get("/users/{user_id}/personal-data.json", name="console.personal_data")
def personal_data(uow: ConsoleUnit, user_id: UserId) -> Response:
    def download(session: Session, ctx: RequestContext) -> Response:
        held = personal.personal_data(session, ctx, user_id)
        stamp = ctx.now().strftime("%Y%m%d")
        return Response(
            held.model_dump_json(indent=2),
            media_type="application/json",
            headers={
                "Content-Disposition": (
                    f'attachment; filename="mandate-personal-data-{user_id}-{stamp}.json"'
                ),
                "Cache-Control": "no-store",
            },
        )

    return uow.run(download)
