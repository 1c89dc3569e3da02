"""The payment batches' services, in one import for the faces (api/, admin/), the CLI and the
tests: uploading (core.batches.upload), approving, rejecting and cancelling
(core.batches.approval), reading (core.batches.reading), and expiring what waited too long.
Each name is defined in one of them, or here when it only wires them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from core.batches import lifecycle
from core.batches.approval import approve_batch, cancel_batch, reject_batch
from core.batches.reading import (
    batch_choices,
    batch_inbox,
    batch_inbox_count,
    get_batch,
    list_batches,
)
from core.batches.upload import create_batch
from core.context import RequestContext

__all__ = [
    "approve_batch",
    "batch_choices",
    "batch_inbox",
    "batch_inbox_count",
    "cancel_batch",
    "create_batch",
    "expire_batches",
    "get_batch",
    "list_batches",
    "reject_batch",
    "settle_before_debit",
]


def expire_batches(session: Session, ctx: RequestContext) -> int:
    """Expire every batch still waiting past its expiry (`mandate payments expire` and
    `run`): holds released, items given back to the limits."""
    return len(lifecycle.expire(session, ctx.now()))


def settle_before_debit(
    session: Session, ctx: RequestContext, account_id: int, account_ids: Sequence[int]
) -> None:
    """core.ledger.debits' settler (registered by core.runtime.compose): before a transfer or
    a withdrawal debits `account_id`, its lapsed batches expire, so that their holds stand in
    nobody's way; the batches are locked first, then every account of the debit."""
    lifecycle.expire(session, ctx.now(), account_id=account_id, also_lock=account_ids)
