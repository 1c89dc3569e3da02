"""The change log: every change to who may do what, with before and after."""

from __future__ import annotations

import json

from pydantic import BaseModel

from core.context import RequestContext
from core.models.audit import ChangeRecord


def record_change(
    ctx: RequestContext,
    entity: str,
    entity_id: int,
    change: str,
    tenant_id: int | None,
    before: BaseModel | None = None,
    after: BaseModel | None = None,
) -> None:
    """Queue a change record: `entity` `entity_id` had `change` in `tenant_id` (None: the
    bank's), from `before` to `after` (public shapes, as the API shows them). It is written
    with the request's commit (never for a failure)."""
    actor = ctx.require_actor()
    ctx.audit.changes.append(
        ChangeRecord(
            at=ctx.now(),
            actor_id=actor.user_id,
            bank_id=actor.bank_id,
            tenant_id=tenant_id,
            entity=entity,
            entity_id=entity_id,
            change=change,
            before=_as_json(before),
            after=_as_json(after),
        )
    )


def _as_json(shape: BaseModel | None) -> str | None:
    if shape is None:
        return None
    return json.dumps(shape.model_dump(mode="json"), sort_keys=True, default=str)
