"""A payment's log: each step of its life (made, approved, scheduled, posted or sent, or ended
without moving money) as an append-only row of payment_log, hash-chained in its tenant's
chain (core.audit.chain). The payment row itself changes status; its log never changes.

Steps are noted on the session as they happen and written together just before COMMIT, in
one INSERT (many rows, one statement), then noted for their chain, which is sealed right
after in the same transaction: a payment's steps commit or vanish with it, and a step taken
inside a savepoint that is rolled back (a payment preview) is forgotten with it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from core.audit import canonical, chain
from core.db import SessionQueue, table_of
from core.models.payments import Payment, PaymentEvent

_PENDING = SessionQueue("mandate.payments.steps")
_LOG = table_of(PaymentEvent)
_INSERT = insert(_LOG).returning(_LOG.c.id, sort_by_parameter_order=True)


def record_step(
    session: Session,
    payment: Payment,
    step: str,
    *,
    actor_id: int | None,
    at: dt.datetime,
    detail: str = "",
    approval_group: str | None = None,
) -> None:
    """Note that `payment` took `step` (its status now the step's outcome), by `actor_id`
    (None: Mandate itself, executing or expiring it), at `at`. Written at commit."""
    values = {
        "bank_id": payment.bank_id,
        "tenant_id": payment.tenant_id,
        "step": step,
        "status": payment.status,
        "actor_id": actor_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "transfer_id": payment.transfer_id,
        "approval_group": approval_group,
        "payment_batch_id": payment.payment_batch_id,
        "detail": detail[:500],
        "at": at,
    }
    _PENDING.add(session, (payment, values))


def write_steps(session: Session) -> None:
    """Write the steps noted on `session` and note them for their chains (before sealing)."""
    if session.in_nested_transaction():
        return  # a savepoint's release: written with the transaction itself
    pending: list[tuple[Payment, dict[str, Any]]] = _PENDING.take(session)
    if not pending:
        return
    session.flush()  # the commit's own flush, early: payments made here get their ids
    rows = []
    for payment, values in pending:
        assert payment.id is not None, "a payment's step before the payment was added"
        rows.append({**values, "payment_id": payment.id})
    ids = session.connection().execute(_INSERT, rows).scalars().all()
    for record_id, row in zip(ids, rows, strict=True):
        chain.note(session, canonical.PAYMENT_LOG, record_id, row)


# Before core.audit.chain's own before_commit listener (insert=True puts this one first): the
# steps' links are sealed with the rest of the transaction's.
event.listen(Session, "before_commit", write_steps, insert=True)
