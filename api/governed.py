"""Answering a governed operation: what it applied, with the route's own status, or 202 with
the change request it became (dual administration: it waits for a second person)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec

from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from core.context import RequestContext
from core.governance.schemas import ChangeRequestPublic, Governed
from core.uow import UnitOfWork

P = ParamSpec("P")

# The 202 answer every governed route documents beside its own.
REQUESTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": ChangeRequestPublic,
        "description": "Dual administration: the change became a change request that a second "
        "person must approve (POST its links.approve); nothing is changed until then",
    }
}


def governed(
    uow: UnitOfWork,
    status_code: int | None,
    operation: Callable[Concatenate[Session, RequestContext, P], Governed[Any]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> Any:
    """Run a governed operation in the request's unit of work and answer what it did: the
    applied result (with the route's status, shaped by its response_model; `status_code` 204:
    an empty 204), or 202 with the change request, which the caller's activity records."""

    def work(session: Session, ctx: RequestContext) -> Governed[Any]:
        outcome = operation(session, ctx, *args, **kwargs)
        if outcome.request is not None:
            uow.status_code = 202
        return outcome

    outcome = uow.run(work)
    if outcome.request is not None:
        body = {**outcome.request.model_dump(mode="json"), **outcome.shown_once}
        return JSONResponse(body, status_code=202)
    if status_code == 204:
        return Response(status_code=204)
    return outcome.applied
