"""Reading payment batches: one with its items (each with its status and refusal) and its
approval trail, the list (filtered in SQL from the same grant data as the decisions), what a
face offers the caller about a batch, and the batch as a decision about approving it reads
it. A batch is as visible as the account it pays from (account.read)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session
from sqlmodel import col

from core.batches import repository
from core.batches.schemas import (
    BatchChoices,
    BatchInboxItem,
    BatchItemPublic,
    PaymentBatchPublic,
)
from core.context import RequestContext
from core.errors import NotFound
from core.ledger import repository as ledger
from core.models.batches import PaymentBatch, PaymentBatchApproval, PaymentBatchItem
from core.models.ledger import Account
from core.money import format_amount
from core.pagination import Page, PageRequest, paginate
from core.payments import repository as payment_rows
from core.payments.offers import choices_of
from core.payments.reading import approvable, status_as_read
from core.payments.schemas import ApprovalPublic, Requirement
from core.policy.facts import Approval, Resource
from core.policy.filters import readable_accounts, within_reach
from core.policy.panels import Panel, Progress, describe_needed, progress
from core.policy.service import require_readable


def batches_within_reach(ctx: RequestContext) -> ColumnElement[bool]:
    """within_reach, on PaymentBatch (a batch is its paying account's tenant's)."""
    return within_reach(
        ctx.require_actor(),
        tenant_column=col(PaymentBatch.tenant_id),
        bank_column=col(PaymentBatch.bank_id),
    )


def readable_batch(
    session: Session, ctx: RequestContext, batch_id: int
) -> tuple[PaymentBatch, Account]:
    """The batch and its paying account; 404 unless the caller may read that account."""
    batch = repository.batch(session, batch_id, within=batches_within_reach(ctx))
    missing = f"payment batch {batch_id} not found"
    account = ledger.account_snapshot(session, batch.account_id) if batch else None
    if batch is None or account is None:
        raise NotFound(missing)
    require_readable(session, ctx, "account.read", Resource.of_account(account), not_found=missing)
    return batch, account


def get_batch(session: Session, ctx: RequestContext, batch_id: int) -> PaymentBatchPublic:
    """A batch with every item (its status and refusal) and its approval trail."""
    batch, _account = readable_batch(session, ctx, batch_id)
    approvals = repository.approvals_of(session, [batch_id])[batch_id]
    return batch_public(
        batch,
        approvals,
        items=repository.items_of(session, batch_id),
        session=session,
        now=ctx.now(),
    )


def list_batches(
    session: Session,
    ctx: RequestContext,
    *,
    status: str | None = None,
    account_id: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[PaymentBatchPublic]:
    """The batches from accounts the caller may read, newest first (without their items)."""
    page = PageRequest.of(cursor, limit)
    readable_ids = ledger.accounts(readable_accounts(session, ctx)).with_only_columns(
        col(Account.id)
    )
    where: ColumnElement[bool] = col(PaymentBatch.account_id).in_(readable_ids)
    if status is not None:
        where = where & _status_is(status, ctx.now())
    if account_id is not None:
        where = where & (col(PaymentBatch.account_id) == account_id)
    found = paginate(
        session,
        repository.batches(where),
        col(PaymentBatch.id),
        page,
        shape=lambda b: b,
        newest_first=True,
    )
    approvals = repository.approvals_of(session, [b.id or 0 for b in found.items])
    return Page(
        items=[batch_public(b, approvals[b.id or 0], now=ctx.now()) for b in found.items],
        next_cursor=found.next_cursor,
    )


def _status_is(status: str, now: dt.datetime) -> ColumnElement[bool]:
    return status_as_read(col(PaymentBatch.status), col(PaymentBatch.expires_at), status, now)


def approval_of(batch: PaymentBatch, approvals: Sequence[PaymentBatchApproval]) -> Approval:
    """The batch as an approval decision reads it (decide.polar: request.payment): one payment
    of its total, who prepared it, who approved it so far, what its panel still needs."""
    left = progress(
        Panel(batch.required_approvals, batch.required_group_a),
        [a.approval_group for a in approvals],
    )
    return Approval(
        initiator_id=batch.initiated_by_id,
        status=batch.status,
        approver_ids=tuple(a.approver_id for a in approvals),
        still_needed=left.still_needed,
        still_needed_a=left.still_needed_a,
        expires_at=batch.expires_at or batch.created_at,
        amount=batch.total,
        currency=batch.currency,
    )


def approving_would(
    batch: PaymentBatch, approvals: Sequence[PaymentBatchApproval], group: str | None
) -> str:
    """What one more approval, from `group`, would do: "post 200 payments of 1,000.00 EUR in
    all", or "leave 1 more approval from group A to go"."""
    panel = Panel(batch.required_approvals, batch.required_group_a)
    after = progress(panel, [*(a.approval_group for a in approvals), group])
    if not after.satisfied:
        return f"leave {describe_needed(after)} to go"
    count = batch.accepted_count
    total = format_amount(batch.total, batch.currency)
    verb = "schedule" if batch.execution_date else "post"
    return f"{verb} {count} payment{'s' if count != 1 else ''} of {total} in all"


def batch_choices(session: Session, ctx: RequestContext, batch_id: int) -> BatchChoices:
    """Which of approve, reject and cancel the policy would let the caller do with this
    batch now, and what approving it would do (asked without recording, for a face)."""
    batch, account = readable_batch(session, ctx, batch_id)
    approvals = repository.approvals_of(session, [batch_id])[batch_id]
    choices = choices_of(
        session,
        ctx,
        Resource.of_account(account),
        approval_of(batch, approvals),
        lambda group: approving_would(batch, approvals, group),
    )
    return BatchChoices(**choices.model_dump())


def batch_inbox(session: Session, ctx: RequestContext, *, limit: int = 100) -> list[BatchInboxItem]:
    """The batches the caller may approve now, oldest first: those waiting on accounts where a
    grant of theirs carries payment.approve, each kept only if the policy would let them
    approve it (the same decision as the approval; one that asks a step-up is kept), with
    what approving would do (as core.payments.reading.inbox for payments)."""
    waiting: list[PaymentBatch] = payment_rows.awaiting(
        session,
        readable_accounts(session, ctx, "payment.approve"),
        ctx.require_actor().user_id,
        ctx.now(),
        limit=limit,
        of=repository.BATCHES,
    )
    approvals = repository.approvals_of(session, [b.id or 0 for b in waiting])
    return [
        BatchInboxItem(
            batch=batch_public(batch, approvals[batch.id or 0], now=ctx.now()),
            approving_would=approving_would(batch, approvals[batch.id or 0], group),
        )
        for batch, group in approvable(session, ctx, waiting, approvals, approval_of)
    ]


def batch_inbox_count(session: Session, ctx: RequestContext) -> int:
    """How many batches wait where the caller may approve payments, uploaded and not yet
    approved by someone else: one count, for the console's badge (as payments')."""
    return payment_rows.count_awaiting(
        session,
        readable_accounts(session, ctx, "payment.approve"),
        ctx.require_actor().user_id,
        ctx.now(),
        of=repository.BATCHES,
    )


def batch_public(
    batch: PaymentBatch,
    approvals: Sequence[PaymentBatchApproval],
    *,
    items: Sequence[PaymentBatchItem] | None = None,
    session: Session | None = None,
    now: dt.datetime | None = None,
) -> PaymentBatchPublic:
    """The batch as the API shows it; with `items`, each with its status (an approved
    batch's items are their payments': `session` reads them). Seen at `now`, one still
    waiting past its expiry is expired."""
    assert batch.id is not None
    panel = Panel(batch.required_approvals, batch.required_group_a)
    status = batch.status
    if status == "pending_approval" and now is not None and batch.expires_at is not None:
        status = "expired" if batch.expires_at <= now else status
    waiting = status == "pending_approval"
    left = progress(panel, [a.approval_group for a in approvals]) if waiting else Progress(0, 0)
    return PaymentBatchPublic(
        id=batch.id,
        account_id=batch.account_id,
        msg_id=batch.msg_id,
        schema_version=batch.schema_version,
        currency=batch.currency,
        execution_date=batch.execution_date,
        status=status,
        item_count=batch.item_count,
        accepted_count=batch.accepted_count,
        refused_count=batch.item_count - batch.accepted_count,
        total=batch.total,
        required=Requirement(
            approvals=panel.approvals,
            group_a=panel.group_a,
            still_needed=left.still_needed,
            still_needed_a=left.still_needed_a,
            text=describe_needed(left),
        ),
        approvals=[
            ApprovalPublic(approver=a.approver_id, approval_group=a.approval_group, at=a.created_at)
            for a in approvals
        ],
        approving_would=approving_would(batch, approvals, "A") if waiting else None,
        initiated_by=batch.initiated_by_id,
        created_at=batch.created_at,
        expires_at=batch.expires_at,
        ended_at=batch.ended_at,
        ended_by=batch.ended_by_id,
        end_reason=batch.end_reason,
        items=None if items is None else _items_public(session, items, status),
    )


def _items_public(
    session: Session | None, items: Sequence[PaymentBatchItem], batch_status: str
) -> list[BatchItemPublic]:
    paid = (
        repository.payment_statuses(session, [i.payment_id for i in items if i.payment_id])
        if session is not None
        else {}
    )
    return [
        BatchItemPublic(
            position=item.position,
            end_to_end_id=item.end_to_end_id,
            creditor_name=item.creditor_name,
            creditor_iban=item.creditor_iban,
            amount=item.amount,
            currency=item.currency,
            reference=item.reference,
            status=_item_status(item, batch_status, paid),
            error=item.reason or None,
            detail=item.detail or None,
            beneficiary_id=item.beneficiary_id,
            kind=item.kind,
            payment_id=item.payment_id,
        )
        for item in items
    ]


def _item_status(item: PaymentBatchItem, batch_status: str, paid: dict[int, str]) -> str:
    if item.status == "refused":
        return "refused"
    if item.payment_id is not None:
        return paid.get(item.payment_id, "posted")
    return batch_status
