"""How a payment batch ends: approved (its last approval makes every accepted item a payment,
posted through core.payments.lifecycle.settle_approved, exactly as a payment's last approval
posts it: the batch's hold becomes the payments' postings), or without moving money
(rejected, cancelled, expired), releasing its hold and giving its items back to the limits
they counted against.

Locks, as every batch operation takes them: the batch row first, then every account it pays
from and to, in id order (core.ledger.repository.lock_accounts), then the person."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from core.batches import repository
from core.ledger import repository as ledger
from core.models.batches import PaymentBatch, PaymentBatchItem
from core.models.ledger import Account
from core.models.payments import MOVED_STATUSES, Payment
from core.payments import lifecycle as payments
from core.payments import repository as payment_rows
from core.payments.events import record_step
from core.policy import spend


def release(
    session: Session,
    batch: PaymentBatch,
    status: str,
    *,
    ended_by: int | None,
    now: dt.datetime,
) -> None:
    """End a waiting batch without moving money: release its hold and give each accepted
    item back to the grant it counted against. The batch and its account are locked."""
    payment_rows.change_held(session, batch.account_id, -batch.total, now)
    given_back: dict[int, int] = defaultdict(int)
    for item in repository.items_of(session, batch.id or 0):
        if item.status == "accepted" and item.grant_id is not None:
            given_back[item.grant_id] += item.amount
    for grant_id, amount in sorted(given_back.items()):
        spend.record(
            session,
            spend.Spend(grant_id, batch.initiated_by_id, batch.currency, batch.spend_day, -amount),
        )
    batch.status = status
    batch.ended_at = now
    batch.ended_by_id = ended_by


def post(
    session: Session,
    batch: PaymentBatch,
    accounts: dict[int, Account],
    now: dt.datetime,
    *,
    by: int,
) -> list[Payment]:
    """Make every accepted item of an approved batch a payment and move its money (or, dated
    for a later day, schedule it), in this transaction: each through the payments' own
    posting, so the ledger, the holds and the limits see payments as ever, and each
    payment's log has its steps (made, then posted, sent or scheduled, by `by`: the last
    approver, or the uploader of a batch nothing catches). The batch and `accounts` (every
    account it pays from and to) are locked."""
    made = []
    items = [i for i in repository.items_of(session, batch.id or 0) if i.status == "accepted"]
    subject = accounts[batch.account_id]
    for item in items:
        payment = _payment_of(batch, item)
        assert item.credit_account_id is not None
        credit = accounts[item.credit_account_id]
        record_step(session, payment, "created", actor_id=by, at=now)
        payments.settle_approved(session, payment, subject, credit, now, by=by)
        if payment.status in MOVED_STATUSES:
            # What the posting wrote, on the locked snapshots the next posting plans from: the
            # hold consumed, the balances moved (the ledger check holds them to the entries).
            subject.held -= payment.amount
            subject.balance -= payment.amount
            credit.balance += payment.amount
        made.append((item, payment))
    session.add_all(payment for _, payment in made)
    session.flush()
    for item, payment in made:
        item.payment_id = payment.id
    batch.status = "approved"
    batch.ended_at = now
    batch.expires_at = None
    return [payment for _, payment in made]


def _payment_of(batch: PaymentBatch, item: PaymentBatchItem) -> Payment:
    """The payment an accepted item becomes: made when the batch was, through the grant its
    decision went through, counted on the batch's day, its panel the batch's."""
    assert item.beneficiary_id is not None and item.credit_account_id is not None
    assert item.kind is not None
    return Payment(
        bank_id=batch.bank_id,
        tenant_id=batch.tenant_id,
        account_id=batch.account_id,
        beneficiary_id=item.beneficiary_id,
        credit_account_id=item.credit_account_id,
        kind=item.kind,
        amount=item.amount,
        currency=batch.currency,
        reference=item.reference,
        execution_date=batch.execution_date,
        status="pending_approval",
        required_approvals=batch.required_approvals,
        required_group_a=batch.required_group_a,
        initiated_by_id=batch.initiated_by_id,
        grant_id=item.grant_id,
        spend_day=batch.spend_day,
        payment_batch_id=batch.id,
        expires_at=batch.expires_at,
        created_at=batch.created_at,
    )


def expire(
    session: Session,
    now: dt.datetime,
    *,
    account_id: int | None = None,
    also_lock: Iterable[int] = (),
) -> list[PaymentBatch]:
    """Expire the batches still waiting past their expiry (all, or one account's): locked
    first, in id order (one another transaction holds is waited for; once ours, one that
    ended meanwhile is left alone), then their accounts with `also_lock`. The batches
    ended."""
    ids = repository.lapsed_ids(session, now, account_id=account_id)
    locked = [b for b in (repository.lock_batch(session, i) for i in ids) if b is not None]
    lapsed = [b for b in locked if lapsed_at(b, now)]
    if not lapsed:
        return []
    ledger.lock_accounts(session, {b.account_id for b in lapsed} | {*also_lock})
    for batch in lapsed:
        release(session, batch, "expired", ended_by=None, now=now)
        batch.end_reason = "no approval in time"
    session.flush()
    return lapsed


def lapsed_at(batch: PaymentBatch, now: dt.datetime) -> bool:
    return (
        batch.status == "pending_approval"
        and batch.expires_at is not None
        and batch.expires_at <= now
    )


def accounts_of(session: Session, batch: PaymentBatch) -> Sequence[int]:
    """Every account a batch's posting touches: its own and its items' receiving accounts."""
    return sorted({batch.account_id, *repository.credit_account_ids(session, batch.id or 0)})
