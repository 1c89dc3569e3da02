"""Approving, rejecting and cancelling a payment batch, as one.

Who may is the policy's, asked exactly as for one payment of the batch's total
(payment.approve, payment.reject, payment.cancel: decide.polar): whoever may approve payments
from the account, never who uploaded it, nobody twice, each approval filling a place the
panel still has, within the approver's approval limit and daily approval limit (both held to
the batch's total: one approval moves it all). One permission for one act: a person allowed
to approve a payment of this size from this account may approve a batch of this total, and a
custom role with payment.approve approves batches too; the decision log names the batch.

The last approval needed makes every accepted item a payment and posts it, in this
transaction, exactly once: the batch row is locked first, so a second approver at the same
instant waits and is then told the batch no longer waits. A rejection (by an approver whose
limit covers the total, with a reason) or a cancellation (by who uploaded it, or a holder of
payment.cancel) ends it whole: its hold released, its items given back to the limits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.batches import lifecycle, repository
from core.batches.reading import (
    approval_of,
    batch_public,
    batches_within_reach,
)
from core.batches.schemas import BatchResult, PaymentBatchPublic
from core.context import PaymentStep, RequestContext
from core.errors import InvalidRequest, NotFound
from core.ledger import idempotency
from core.ledger import repository as ledger
from core.models.batches import PaymentBatch, PaymentBatchApproval
from core.models.ledger import Account
from core.money import format_amount
from core.payments.schemas import PaymentEnd
from core.payments.steps import name_of
from core.policy.facts import Resource
from core.policy.panels import Panel, describe_needed, progress
from core.policy.service import permit, require_readable


def approve_batch(
    session: Session, ctx: RequestContext, batch_id: int, idempotency_key: str | None
) -> BatchResult:
    """Count the caller's approval; the last one the panel needs posts every accepted item
    as a payment, in this transaction. Exactly once per key."""
    actor = ctx.require_actor()
    ctx.audit.attempt(
        "payment.approve", idempotency_key=idempotency_key, target=f"payment batch {batch_id}"
    )
    key = idempotency.validate_key(idempotency_key)
    ticket = idempotency.hold(session, actor, key, "payment_batch.approve", {"batch_id": batch_id})
    earlier = idempotency.stored(session, ticket)
    batch, accounts = _locked(session, ctx, batch_id)
    if earlier is not None:
        body = idempotency.replay(earlier, ticket)
        if ctx.audit.activity:
            ctx.audit.activity.replayed = True
        return BatchResult(PaymentBatchPublic.model_validate(body), replayed=True)
    approvals = repository.approvals_of(session, [batch_id])[batch_id]
    verdict = permit(
        session,
        ctx,
        "payment.approve",
        Resource.of_account(accounts[batch.account_id]),
        not_found=f"payment batch {batch_id} not found",
        approval=approval_of(batch, approvals),
        lock=True,
    )
    grant = verdict.grant
    now = ctx.now()
    approval = PaymentBatchApproval(
        batch_id=batch_id,
        approver_id=actor.user_id,
        grant_id=grant.id,
        approval_group=grant.approval_group,
        created_at=now,
    )
    session.add(approval)
    approvals = [*approvals, approval]
    after = progress(
        Panel(batch.required_approvals, batch.required_group_a),
        [a.approval_group for a in approvals],
    )
    what = _what(batch)
    if after.satisfied:
        lifecycle.post(session, batch, accounts, now, by=actor.user_id)
        said = f"approved {what}; it is approved: its payments are {_moved(batch)}"
    else:
        said = f"approved {what}; it needs {describe_needed(after)}"
    session.flush()
    _tell(ctx, batch, "payment.approve", f"{name_of(session, actor.user_id)} {said}")
    public = batch_public(
        batch, approvals, items=repository.items_of(session, batch_id), session=session, now=now
    )
    idempotency.store(
        session, ticket, body=public.model_dump(mode="json"), transfer_id=None, at=now
    )
    _describe(ctx, batch, said)
    return BatchResult(public)


def reject_batch(
    session: Session, ctx: RequestContext, batch_id: int, body: PaymentEnd
) -> PaymentBatchPublic:
    """An approver refuses the whole batch, with a reason: nothing of it moves."""
    ctx.audit.attempt("payment.reject", target=f"payment batch {batch_id}")
    if not body.reason.strip():
        raise InvalidRequest("say why the payment batch is rejected", code="reason_required")
    return _end(session, ctx, batch_id, "payment.reject", "rejected", body.reason.strip())


def cancel_batch(
    session: Session, ctx: RequestContext, batch_id: int, body: PaymentEnd
) -> PaymentBatchPublic:
    """Who uploaded the batch (or a holder of payment.cancel) withdraws it while it waits."""
    ctx.audit.attempt("payment.cancel", target=f"payment batch {batch_id}")
    return _end(session, ctx, batch_id, "payment.cancel", "cancelled", body.reason.strip())


def _end(
    session: Session, ctx: RequestContext, batch_id: int, action: str, status: str, reason: str
) -> PaymentBatchPublic:
    batch, accounts = _locked(session, ctx, batch_id)
    approvals = repository.approvals_of(session, [batch_id])[batch_id]
    permit(
        session,
        ctx,
        action,
        Resource.of_account(accounts[batch.account_id]),
        not_found=f"payment batch {batch_id} not found",
        approval=approval_of(batch, approvals),
    )
    who = ctx.require_actor().user_id
    lifecycle.release(session, batch, status, ended_by=who, now=ctx.now())
    batch.end_reason = reason
    session.flush()
    why = f": “{reason}”" if reason else ""
    said = f"{status} {_what(batch)}{why}"
    _tell(ctx, batch, action, f"{name_of(session, who)} {said}")
    _describe(ctx, batch, said)
    return batch_public(
        batch,
        approvals,
        items=repository.items_of(session, batch_id),
        session=session,
        now=ctx.now(),
    )


def _locked(
    session: Session, ctx: RequestContext, batch_id: int
) -> tuple[PaymentBatch, dict[int, Account]]:
    """The batch, then every account it pays from and to, locked in that order; 404 unless
    the caller may read the paying account."""
    batch = repository.lock_batch(session, batch_id, within=batches_within_reach(ctx))
    if batch is None:
        raise NotFound(f"payment batch {batch_id} not found")
    accounts = ledger.lock_accounts(session, lifecycle.accounts_of(session, batch))
    require_readable(
        session,
        ctx,
        "account.read",
        Resource.of_account(accounts[batch.account_id]),
        not_found=f"payment batch {batch_id} not found",
    )
    ctx.audit.payment_batch_id = batch_id
    return batch, accounts


def _what(batch: PaymentBatch) -> str:
    count = batch.accepted_count
    return (
        f"payment batch {batch.id} ({batch.msg_id}) of {count} payment"
        f"{'s' if count != 1 else ''}, {format_amount(batch.total, batch.currency)} in all"
    )


def _moved(batch: PaymentBatch) -> str:
    return f"scheduled for {batch.execution_date.isoformat()}" if batch.execution_date else "paid"


def _describe(ctx: RequestContext, batch: PaymentBatch, said: str) -> None:
    if ctx.audit.activity:
        ctx.audit.activity.account_id = batch.account_id
        ctx.audit.activity.amount = batch.total
        ctx.audit.activity.currency = batch.currency
    ctx.audit.done(said)


def _tell(ctx: RequestContext, batch: PaymentBatch, action: str, detail: str) -> None:
    """A step of the batch for the activity of who uploaded it, unless they took it."""
    actor = ctx.require_actor()
    if actor.user_id == batch.initiated_by_id:
        return
    ctx.audit.steps.append(
        PaymentStep(
            user_id=batch.initiated_by_id,
            tenant_id=batch.tenant_id,
            action=action,
            detail=detail.replace(f" {_what(batch)}", f" your {_what(batch)}", 1),
            payment_id=None,
            acted_by=actor.user_id,
            account_id=batch.account_id,
            amount=batch.total,
            currency=batch.currency,
            payment_batch_id=batch.id,
        )
    )
