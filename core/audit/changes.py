"""The change log: every change to who may do what, with before and after."""

from __future__ import annotations

import json
from typing import Any

from core.context import RequestContext
from core.models.audit import ChangeRecord


def record_change(
    ctx: RequestContext,
    *,
    entity: str,
    entity_id: int,
    change: str,
    tenant_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Queue a change record; it is written with the request's commit (never for a failure)."""
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
            before=None if before is None else json.dumps(before, sort_keys=True, default=str),
            after=None if after is None else json.dumps(after, sort_keys=True, default=str),
        )
    )
