"""Change requests in their public shape (pure shaping, but for the names of who asked and
who decided)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy.orm import Session

from core.governance import repository
from core.governance.schemas import ChangeRequestLinks, ChangeRequestPublic
from core.models.governance import ChangeRequest


def request_public(
    session: Session, request: ChangeRequest, now: dt.datetime
) -> ChangeRequestPublic:
    """The request as the API shows it at `now` (a pending one past its expiry: expired)."""
    assert request.id is not None
    names = repository.names_of(session, [request.requested_by_id, request.decided_by_id])
    status = request.status
    if status == "pending" and request.expires_at <= now:
        status = "expired"
    base = f"/v1/change-requests/{request.id}"
    return ChangeRequestPublic(
        id=request.id,
        kind=request.kind,
        status=status,
        tenant_id=request.tenant_id,
        summary=request.summary,
        target=json.loads(request.target),
        before=repository.loads(request.before),
        after=repository.loads(request.after),
        requested_by=request.requested_by_id,
        requested_by_name=names.get(request.requested_by_id, ""),
        created_at=request.created_at,
        expires_at=request.expires_at,
        decided_by=request.decided_by_id,
        decided_by_name=names.get(request.decided_by_id) if request.decided_by_id else None,
        decided_at=request.decided_at,
        reason=request.reason,
        reason_detail=request.reason_detail,
        result_id=request.result_id,
        links=ChangeRequestLinks(self=base, approve=f"{base}/approve", reject=f"{base}/reject"),
    )


def jsonable(value: Any) -> Any:
    return None if value is None else to_jsonable_python(value)


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)
