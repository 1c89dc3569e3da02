"""Answering a governed operation: what it applied, with the route's own status, or 202 with
the change request it became (dual administration: it waits for a second person)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse, Response

from core.governance.schemas import ChangeRequestPublic, Governed

# The 202 answer every governed route documents beside its own.
REQUESTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": ChangeRequestPublic,
        "description": "Dual administration: the change became a change request that a second "
        "person must approve (POST its links.approve); nothing is changed until then",
    }
}


def answer(outcome: Governed[Any], status_code: int | None = None) -> Any:
    """The applied result (answered with the route's status, shaped by its response_model),
    or 202 with the change request; `status_code` 204: an empty 204 for the applied."""
    if outcome.request is not None:
        return JSONResponse(outcome.request.model_dump(mode="json"), status_code=202)
    if status_code == 204:
        return Response(status_code=204)
    return outcome.applied
