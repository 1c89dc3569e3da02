"""Payments to beneficiaries, under dual control.

A payment goes from a company's account to a beneficiary: inside the bank, a book transfer to
the beneficiary's account (kind "own" when that account is the company's own, "internal"
otherwise); elsewhere, to the bank's clearing account in the payment's currency (kind
"external", status "sent": the interbank leg is out of scope). The policy decides the payer
(payment.create: limits, windows, caps, counted when the payment is made), the approval panel
(policies/approvals.polar: the bank's minimums and the company's tiers) and each approver
(payment.approve). A payment the panel catches waits as pending_approval with a hold on its
amount; the last approval needed posts it in the same transaction, exactly once (or, dated
for a later day, schedules it). A payment that ends without moving money (rejected,
cancelled, expired, failed) releases its hold and gives its amount back to the limits it
counted against (core.payments.lifecycle says how each ends). Beside this module: its
preview (core.payments.preview), reading payments (core.payments.reading), what a new one is
made of (core.payments.terms), and the steps told to who prepared it (core.payments.steps).

Locks: payment rows first (the one decided: two approvals of one payment run one after the
other; or the lapsed ones a new payment or the expiry releases, in id order), then the
accounts in id order, then (for the payer's cumulative limits) the person."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import InvalidRequest, NotFound
from core.ledger import idempotency
from core.ledger import repository as ledger
from core.ledger.posting import Movement, plan_transfer
from core.models.iam import Tenant
from core.models.ledger import Account
from core.models.payments import Payment, PaymentApproval
from core.money import format_amount
from core.payments import lifecycle, repository
from core.payments.beneficiaries import is_new, payment_money, usable_beneficiary
from core.payments.events import record_step
from core.payments.reading import beneficiary_name, payment_public
from core.payments.schemas import (
    PaymentCreate,
    PaymentEnd,
    PaymentPublic,
    PaymentResult,
)
from core.payments.steps import became, name_of, tell, tell_settled, your_payment
from core.payments.terms import (
    check_two_accounts,
    credit_account_id,
    day_text,
    expiry_of,
    kind_of,
    readable_account,
    require_subject_currency,
)
from core.policy import registry, spend
from core.policy.facts import Resource
from core.policy.filters import payments_within_reach
from core.policy.panels import (
    Panel,
    approval_of,
    describe_needed,
    panel_for,
    progress,
)
from core.policy.service import permit, require_readable

# -- making a payment ------------------------------------------------------------------------


def create_payment(
    session: Session, ctx: RequestContext, body: PaymentCreate, idempotency_key: str | None
) -> PaymentResult:
    """Pay a beneficiary: posted (or sent) at once when no approval is needed, otherwise
    pending_approval with its amount held. Exactly once per key."""
    actor = ctx.require_actor()
    ctx.audit.attempt(
        "payment.create",
        account_id=body.account_id,
        amount=body.amount,
        currency=body.currency,
        idempotency_key=idempotency_key,
        target=f"beneficiary {body.beneficiary_id}",
    )
    key = idempotency.validate_key(idempotency_key)
    ticket = idempotency.hold(session, actor, key, "payment", body.model_dump(mode="json"))
    earlier = idempotency.stored(session, ticket)
    if earlier is not None:
        readable_account(
            session, ctx, ledger.account_snapshot(session, body.account_id), body.account_id
        )
        return _replayed(ctx, idempotency.replay(earlier, ticket))
    beneficiary = usable_beneficiary(session, ctx, body.beneficiary_id)
    # The paying account must be readable before anything is locked or compared with it.
    readable_account(
        session, ctx, ledger.account_snapshot(session, body.account_id), body.account_id
    )
    credit_id = credit_account_id(session, beneficiary, actor.bank_id, body.currency)
    check_two_accounts(body.account_id, credit_id)
    # What is due on this account is settled first: lapsed payments give their holds back,
    # scheduled payments whose day has come execute. Locked in the order of every payment
    # operation, the payments before the accounts (this payment's too): one another
    # transaction holds (an approval or a cancellation, on its way to being refused) is waited
    # for, not skipped, so its hold never stands in the way of this payment.
    settled = lifecycle.settle(
        session, ctx.now(), account_id=body.account_id, also_lock=[body.account_id, credit_id]
    )
    tell_settled(session, ctx, settled)
    accounts = ledger.lock_accounts(session, [body.account_id, credit_id])
    subject, credit = accounts[body.account_id], accounts[credit_id]
    require_subject_currency(subject, body.currency)
    verdict = permit(
        session,
        ctx,
        "payment.create",
        Resource.of_account(subject),
        not_found=f"beneficiary {beneficiary.id} not found",
        money=payment_money(beneficiary, credit, body.amount, body.currency),
        lock=True,
    )
    lifecycle.require_receiving(credit, subject, body.currency)
    now = ctx.now()
    today = lifecycle.company_today(session, subject.tenant_id or 0, now)
    lifecycle.check_execution_date(body.execution_date, today)
    kind = kind_of(beneficiary, subject, credit)
    tenant = session.get(Tenant, subject.tenant_id)
    assert tenant is not None and subject.id is not None and credit.id is not None
    panel = panel_for(
        repository.tiers(session, subject.bank_id, tenant.id or 0, body.currency),
        currency=body.currency,
        amount=body.amount,
        kind=kind,
        account_id=subject.id,
        new_beneficiary=is_new(beneficiary, tenant, now),
        # The company's panel, as its own policy version says.
        engine=registry.for_tenant(tenant.id),
    )
    movement = Movement(
        kind="payment",
        subject_id=subject.id,
        counterparty_id=credit.id,
        amount=body.amount,
        currency=body.currency,
        description=body.reference,
    )
    # The ledger's rules (frozen, closed, the floor with holds counted) hold for a payment
    # that waits as for one posted now: nothing pending can take available below the floor.
    lifecycle.require_available(subject, body.amount, body.currency)
    posting = plan_transfer(
        movement,
        subject,
        credit,
        initiated_by=actor.user_id,
        grant_id=verdict.decision.grant_id,
        day=None,
        now=now,
    )
    payment = Payment(
        bank_id=subject.bank_id,
        tenant_id=tenant.id or 0,
        account_id=subject.id,
        beneficiary_id=beneficiary.id or 0,
        credit_account_id=credit.id,
        kind=kind,
        amount=body.amount,
        currency=body.currency,
        reference=body.reference,
        execution_date=body.execution_date,
        status="pending_approval",
        required_approvals=panel.approvals,
        required_group_a=panel.group_a,
        initiated_by_id=actor.user_id,
        grant_id=verdict.decision.grant_id,
        spend_day=verdict.facts.day,
        expires_at=expiry_of(now, tenant.payment_expiry_days),
        created_at=now,
    )
    # Limits count at initiation: what the payment adds to its grant's and its person's
    # totals is written now, and given back if it ends without moving money.
    if payment.grant_id is not None and payment.spend_day is not None:
        spend.record(session, lifecycle.counted(payment, payment.amount))
    amount = format_amount(body.amount, body.currency)
    if panel.approvals == 0 and lifecycle.is_due(payment, today):
        payment.transfer_id = ledger.post_transfer(session, posting)
        payment.status = "sent" if kind == "external" else "posted"
        payment.ended_at = now
        payment.expires_at = None
        said = f"paid {amount} from {subject.name} to {beneficiary.name}"
    elif panel.approvals == 0:
        # Nothing to approve, a later day: held until it executes on its date.
        repository.change_held(session, subject.id, payment.amount, now)
        payment.status = "scheduled"
        payment.expires_at = None
        said = (
            f"scheduled a payment of {amount} from {subject.name} to {beneficiary.name} "
            f"for {day_text(payment)}"
        )
    else:
        repository.change_held(session, subject.id, payment.amount, now)
        needed = describe_needed(progress(panel, []))
        later = (
            f", to execute on {day_text(payment)}" if not lifecycle.is_due(payment, today) else ""
        )
        said = (
            f"prepared a payment of {amount} from {subject.name} to {beneficiary.name}; "
            f"it needs {needed}{later}"
        )
    session.add(payment)
    session.flush()
    record_step(session, payment, "created", actor_id=actor.user_id, at=now)
    public = payment_public(payment, [], beneficiary.name)
    idempotency.store(
        session,
        ticket,
        body=public.model_dump(mode="json"),
        transfer_id=payment.transfer_id,
        at=now,
    )
    if ctx.audit.activity:
        ctx.audit.activity.transfer_id = payment.transfer_id
        ctx.audit.activity.target = f"payment {payment.id}"
    ctx.audit.done(said)
    return PaymentResult(public)


# -- approving, rejecting, cancelling --------------------------------------------------------


def approve_payment(
    session: Session, ctx: RequestContext, payment_id: int, idempotency_key: str | None
) -> PaymentResult:
    """Count the caller's approval; the last one the panel needs posts the payment, in this
    transaction. Exactly once per key; a second approver at the same instant waits for the
    first (the payment row is locked) and is told the payment no longer waits."""
    actor = ctx.require_actor()
    ctx.audit.attempt(
        "payment.approve", idempotency_key=idempotency_key, target=f"payment {payment_id}"
    )
    key = idempotency.validate_key(idempotency_key)
    ticket = idempotency.hold(session, actor, key, "payment.approve", {"payment_id": payment_id})
    earlier = idempotency.stored(session, ticket)
    payment, subject, credit = _locked(session, ctx, payment_id)
    if earlier is not None:
        return _replayed(ctx, idempotency.replay(earlier, ticket))
    approvals = repository.approvals_of(session, [payment_id])[payment_id]
    panel = Panel(payment.required_approvals, payment.required_group_a)
    verdict = permit(
        session,
        ctx,
        "payment.approve",
        Resource.of_account(subject),
        not_found=f"payment {payment_id} not found",
        approval=approval_of(payment, approvals),
        # The approver is locked (after the payment and its accounts) when a daily approval
        # limit counts what they approved today: two approvals at once never jointly pass it.
        lock=True,
    )
    # Asked after the policy, so that only who may approve learns it: nothing is paid to a
    # deleted beneficiary (its deletion ends its payments; one made at that instant stops here).
    lifecycle.require_payee(session, payment)
    grant = verdict.grant
    now = ctx.now()
    approval = PaymentApproval(
        payment_id=payment_id,
        approver_id=actor.user_id,
        grant_id=grant.id,
        approval_group=grant.approval_group,
        created_at=now,
    )
    session.add(approval)
    record_step(
        session,
        payment,
        "approved",
        actor_id=actor.user_id,
        at=now,
        approval_group=grant.approval_group,
    )
    approvals = [*approvals, approval]
    after = progress(panel, [a.approval_group for a in approvals])
    amount = format_amount(payment.amount, payment.currency)
    name = beneficiary_name(session, payment)
    approver = name_of(session, actor.user_id)
    what = your_payment(payment, amount, name)
    if after.satisfied:
        lifecycle.settle_approved(session, payment, subject, credit, now, by=actor.user_id)
        when = f" for {day_text(payment)}" if payment.status == "scheduled" else ""
        said = f"approved payment {payment_id} of {amount} to {name}; it is {payment.status}{when}"
        tell(ctx, payment, "payment.approve", f"{approver} approved {what}", actor.user_id)
        tell(ctx, payment, f"payment.{payment.status}", became(payment, what), actor.user_id)
    else:
        said = (
            f"approved payment {payment_id} of {amount} to {name}; "
            f"it needs {describe_needed(after)}"
        )
        tell(
            ctx,
            payment,
            "payment.approve",
            f"{approver} approved {what}; it needs {describe_needed(after)}",
            actor.user_id,
        )
    session.flush()
    public = payment_public(payment, approvals, name)
    idempotency.store(
        session,
        ticket,
        body=public.model_dump(mode="json"),
        transfer_id=payment.transfer_id,
        at=now,
    )
    if ctx.audit.activity:
        ctx.audit.activity.account_id = payment.account_id
        ctx.audit.activity.amount = payment.amount
        ctx.audit.activity.currency = payment.currency
        ctx.audit.activity.transfer_id = payment.transfer_id
    ctx.audit.done(said)
    return PaymentResult(public)


def reject_payment(
    session: Session, ctx: RequestContext, payment_id: int, body: PaymentEnd
) -> PaymentPublic:
    """An approver refuses the payment, with a reason: it ends, its hold is released and its
    amount given back to the payer's limits."""
    ctx.audit.attempt("payment.reject", target=f"payment {payment_id}")
    if not body.reason.strip():
        raise InvalidRequest("say why the payment is rejected", code="reason_required")
    return _end(session, ctx, payment_id, "payment.reject", "rejected", body.reason.strip())


def cancel_payment(
    session: Session, ctx: RequestContext, payment_id: int, body: PaymentEnd
) -> PaymentPublic:
    """Who prepared the payment (or a holder of payment.cancel) withdraws it while it waits."""
    ctx.audit.attempt("payment.cancel", target=f"payment {payment_id}")
    return _end(session, ctx, payment_id, "payment.cancel", "cancelled", body.reason.strip())


def _end(
    session: Session, ctx: RequestContext, payment_id: int, action: str, status: str, reason: str
) -> PaymentPublic:
    payment, subject, _credit = _locked(session, ctx, payment_id)
    approvals = repository.approvals_of(session, [payment_id])[payment_id]
    permit(
        session,
        ctx,
        action,
        Resource.of_account(subject),
        not_found=f"payment {payment_id} not found",
        approval=approval_of(payment, approvals),
    )
    lifecycle.release(
        session, payment, status, ended_by=ctx.require_actor().user_id, reason=reason, now=ctx.now()
    )
    session.flush()
    name = beneficiary_name(session, payment)
    amount = format_amount(payment.amount, payment.currency)
    if ctx.audit.activity:
        ctx.audit.activity.account_id = payment.account_id
        ctx.audit.activity.amount = payment.amount
        ctx.audit.activity.currency = payment.currency
    ctx.audit.done(f"{status} payment {payment_id} of {amount} to {name}")
    who = ctx.require_actor().user_id
    why = f": “{reason}”" if reason else ""
    said = f"{name_of(session, who)} {status} {your_payment(payment, amount, name)}{why}"
    tell(ctx, payment, action, said, who)
    return payment_public(payment, approvals, name)


def _locked(
    session: Session, ctx: RequestContext, payment_id: int
) -> tuple[Payment, Account, Account]:
    """The payment and its two accounts, locked in that order; 404 unless the caller may read
    the paying account (a payment is as visible as the account it is paid from)."""
    payment = repository.lock_payment(
        session, payment_id, within=payments_within_reach(ctx.require_actor())
    )
    if payment is None:
        raise NotFound(f"payment {payment_id} not found")
    accounts = ledger.lock_accounts(session, [payment.account_id, payment.credit_account_id])
    subject = accounts[payment.account_id]
    require_readable(
        session,
        ctx,
        "account.read",
        Resource.of_account(subject),
        not_found=f"payment {payment_id} not found",
    )
    return payment, subject, accounts[payment.credit_account_id]


def expire_payments(session: Session, ctx: RequestContext) -> int:
    """Expire every payment still waiting past its expiry (`mandate payments expire`)."""
    settled = lifecycle.settle(session, ctx.now(), limit=None, execute_due=False)
    tell_settled(session, ctx, settled)
    return settled.expired


def run_payments(session: Session, ctx: RequestContext) -> lifecycle.Settled:
    """Settle everything due (`mandate payments run`): expire the lapsed payments and execute
    the scheduled payments whose day has come, each exactly once."""
    settled = lifecycle.settle(session, ctx.now(), limit=None)
    tell_settled(session, ctx, settled)
    return settled


def settle_before_debit(
    session: Session, ctx: RequestContext, account_id: int, account_ids: Sequence[int]
) -> None:
    """core.ledger.debits' settler (registered by core.runtime.compose): before a transfer or
    a withdrawal debits `account_id`, its lapsed payments expire (their holds released and
    their amounts given back to the limits) and its scheduled payments due today execute, in
    the same transaction; payments are locked first, then every account of the debit."""
    settled = lifecycle.settle(session, ctx.now(), account_id=account_id, also_lock=account_ids)
    tell_settled(session, ctx, settled)


def _replayed(ctx: RequestContext, body: dict[str, Any]) -> PaymentResult:
    payment = PaymentPublic.model_validate(body)
    if ctx.audit.activity:
        ctx.audit.activity.replayed = True
        ctx.audit.activity.transfer_id = payment.transfer_id
    return PaymentResult(payment, replayed=True)
