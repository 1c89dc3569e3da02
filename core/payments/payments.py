"""Payments to beneficiaries, under dual control.

A payment goes from a company's account to a beneficiary: inside the bank, a book transfer to
the beneficiary's account (kind "own" when that account is the company's own, "internal"
otherwise); elsewhere, to the bank's clearing account in the payment's currency (kind
"external", status "sent": the interbank leg is out of scope). The policy decides the payer
(payment.create: limits, windows, caps, counted when the payment is made), the approval panel
(policies/approvals.polar: the bank's minimums and the company's tiers) and each approver
(payment.approve). A payment the panel catches waits as pending_approval with a hold on its
amount; the last approval needed posts it in the same transaction, exactly once. A payment
that ends without moving money (rejected, cancelled, expired) releases its hold and gives its
amount back to the limits it counted against.

Locks: payment rows first (the one decided: two approvals of one payment run one after the
other; or the lapsed ones a new payment or the expiry releases, in id order), then the
accounts in id order, then (for the payer's cumulative limits) the person."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import RequestContext
from core.errors import Conflict, InvalidRequest, MandateError, NotFound
from core.ledger import idempotency
from core.ledger import repository as ledger
from core.ledger.posting import Movement, available, may_debit, plan_transfer
from core.models.iam import Tenant, actor_of
from core.models.ledger import Account
from core.models.payments import Beneficiary, Payment, PaymentApproval
from core.money import format_amount
from core.pagination import Page, PageRequest, paginate
from core.payments import repository
from core.payments.beneficiaries import is_new, usable_beneficiary
from core.payments.schemas import (
    ApprovalPublic,
    InboxItem,
    PaymentCreate,
    PaymentEnd,
    PaymentPreview,
    PaymentPublic,
    PaymentResult,
    PossibleApprover,
    Requirement,
)
from core.policy import spend
from core.policy.facts import Approval, Money, Resource
from core.policy.filters import payments_within_reach, readable_accounts, readable_in_tenant
from core.policy.panels import (
    Panel,
    Progress,
    approval_of,
    describe_needed,
    panel_for,
    progress,
)
from core.policy.service import check, permit, require_readable

# The statuses a payment ends in, and whether its money moved.
MOVED = ("posted", "sent")
# At most this many lapsed payments are expired by one request on its way (the command
# `mandate payments expire` takes them all).
LAZY_EXPIRY_BATCH = 100


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
        _gate(session, ctx, ledger.account_snapshot(session, body.account_id), body.account_id)
        return _replayed(ctx, idempotency.replay(earlier, ticket))
    beneficiary = usable_beneficiary(session, ctx, body.beneficiary_id)
    # The paying account must be readable before anything is locked or compared with it.
    _gate(session, ctx, ledger.account_snapshot(session, body.account_id), body.account_id)
    credit_id = _credit_account_id(session, beneficiary, actor.bank_id, body.currency)
    _check_two_accounts(body.account_id, credit_id)
    # Lapsed payments of this account give their holds back first. Locked in the order of
    # every payment operation, the payments before the accounts: one another transaction
    # holds (an approval or a cancellation, on its way to being refused) is waited for, not
    # skipped, so its hold never stands in the way of this payment.
    lapsed = _lock_lapsed(session, ctx.now(), account_id=body.account_id)
    accounts = ledger.lock_accounts(session, [body.account_id, credit_id])
    if lapsed:
        _expire(session, lapsed, ctx.now())
        accounts = ledger.lock_accounts(session, [body.account_id, credit_id])
    subject, credit = accounts[body.account_id], accounts[credit_id]
    if subject.currency != body.currency:
        raise InvalidRequest(
            f"account {subject.id} is in {subject.currency}, the amount in {body.currency}",
            code="currency_mismatch",
        )
    verdict = permit(
        session,
        ctx,
        "payment.create",
        Resource.of_account(subject),
        not_found=f"beneficiary {beneficiary.id} not found",
        money=Money(amount=body.amount, currency=body.currency, counterparty=credit),
        lock=True,
    )
    _require_receiving(credit, subject, body.currency)
    _check_execution_date(body, verdict.facts.day)
    kind = _kind(beneficiary, subject, credit)
    tenant = session.get(Tenant, subject.tenant_id)
    assert tenant is not None and subject.id is not None and credit.id is not None
    now = ctx.now()
    panel = panel_for(
        repository.tiers(session, subject.bank_id, tenant.id or 0, body.currency),
        currency=body.currency,
        amount=body.amount,
        kind=kind,
        account_id=subject.id,
        new_beneficiary=is_new(beneficiary, tenant, now),
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
    _require_available(subject, body.amount, body.currency)
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
        expires_at=_expiry(now, tenant.payment_expiry_days),
        created_at=now,
    )
    # Limits count at initiation: what the payment adds to its grant's and its person's
    # totals is written now, and given back if it ends without moving money.
    if payment.grant_id is not None and payment.spend_day is not None:
        spend.record(session, _spend(payment, payment.amount))
    amount = format_amount(body.amount, body.currency)
    if panel.approvals == 0:
        payment.transfer_id = ledger.post_transfer(session, posting)
        payment.status = "sent" if kind == "external" else "posted"
        payment.ended_at = now
        payment.expires_at = None
        said = f"paid {amount} from {subject.name} to {beneficiary.name}"
    else:
        repository.change_held(session, subject.id, payment.amount, now)
        needed = describe_needed(progress(panel, []))
        said = (
            f"prepared a payment of {amount} from {subject.name} to {beneficiary.name}; "
            f"it needs {needed}"
        )
    session.add(payment)
    session.flush()
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


def _expiry(now: dt.datetime, days: int) -> dt.datetime:
    """When a payment made at `now` expires: `days` later, on a whole second. The policy reads
    times in whole seconds (conditions.polar: payment_not_pending compares now with the
    expiry), and against a whole second that is exact: the lists and a GET, which compare in
    full, then say what the decision says at every instant."""
    return (now + dt.timedelta(days=days)).replace(microsecond=0)


def _credit_account_id(
    session: Session, beneficiary: Beneficiary, bank_id: int, currency: str
) -> int:
    """Where the money goes: the beneficiary's account inside the bank, or the bank's clearing
    account in the payment's currency for a beneficiary elsewhere."""
    if beneficiary.internal_account_id is not None:
        return beneficiary.internal_account_id
    clearing = ledger.clearing_account_id(session, bank_id, currency)
    if clearing is None:
        raise InvalidRequest(
            f"the bank sends no {currency} payments to other banks", code="currency_mismatch"
        )
    return clearing


def _check_two_accounts(account_id: int, credit_id: int) -> None:
    if credit_id == account_id:
        raise InvalidRequest(
            "the beneficiary is this same account: a payment needs two different accounts",
            code="same_account",
        )


def _kind(beneficiary: Beneficiary, subject: Account, credit: Account) -> str:
    if beneficiary.internal_account_id is None:
        return "external"
    return "own" if credit.tenant_id == subject.tenant_id else "internal"


def _check_execution_date(body: PaymentCreate, today: dt.date | None) -> None:
    """A payment executes today, the company's day: Mandate schedules no payment later."""
    if body.execution_date is not None and today is not None and body.execution_date != today:
        raise InvalidRequest(
            f"the execution date can only be today, {today.isoformat()} (the company's day): "
            "payments for a later day are not scheduled",
            code="invalid_execution_date",
        )


def preview_payment(session: Session, ctx: RequestContext, body: PaymentCreate) -> PaymentPreview:
    """What `body` would do if sent now: refused (and why), posted or sent at once, or held
    for approval, with the panel and the people who could approve it. The same decisions as
    the payment itself, unrecorded; nothing is written. As the payment would, it first lets
    the account's lapsed payments go (their holds, and the limits they count), inside a
    savepoint that is always rolled back."""
    trial = session.begin_nested()
    try:
        return _preview(session, ctx, body)
    finally:
        trial.rollback()


def _preview(session: Session, ctx: RequestContext, body: PaymentCreate) -> PaymentPreview:
    actor = ctx.require_actor()
    beneficiary = usable_beneficiary(session, ctx, body.beneficiary_id)
    _gate(session, ctx, ledger.account_snapshot(session, body.account_id), body.account_id)
    credit_id = _credit_account_id(session, beneficiary, actor.bank_id, body.currency)
    _check_two_accounts(body.account_id, credit_id)
    _expire_lapsed(session, ctx, account_id=body.account_id)
    subject = ledger.account_snapshot(session, body.account_id)
    credit = ledger.account_snapshot(session, credit_id)
    assert subject is not None
    assert credit is not None and subject.id is not None and subject.tenant_id is not None
    tenant = session.get(Tenant, subject.tenant_id)
    assert tenant is not None
    verdict = check(
        session,
        ctx,
        "payment.create",
        Resource.of_account(subject),
        money=Money(amount=body.amount, currency=body.currency, counterparty=credit),
        record=False,
    )
    kind = _kind(beneficiary, subject, credit)
    panel = panel_for(
        repository.tiers(session, subject.bank_id, subject.tenant_id, body.currency),
        currency=body.currency,
        amount=body.amount,
        kind=kind,
        account_id=subject.id,
        new_beneficiary=is_new(beneficiary, tenant, ctx.now()),
    )
    left = progress(panel, [])
    required = Requirement(
        approvals=panel.approvals,
        group_a=panel.group_a,
        still_needed=left.still_needed,
        still_needed_a=left.still_needed_a,
        text=describe_needed(left),
    )
    if not verdict.allowed:
        return PaymentPreview(
            outcome="refused",
            required=required,
            approvers=[],
            error=verdict.decision.reason,
            detail=verdict.message,
        )
    refusal = _ledger_refusal(body, subject, credit, verdict.facts.day)
    if refusal is not None:
        return PaymentPreview(
            outcome="refused",
            required=required,
            approvers=[],
            error=refusal.code,
            detail=refusal.detail,
        )
    if panel.approvals == 0:
        return PaymentPreview(
            outcome="sent" if kind == "external" else "posted", required=required, approvers=[]
        )
    hypothetical = Approval(
        initiator_id=actor.user_id,
        status="pending_approval",
        approver_ids=(),
        still_needed=left.still_needed,
        still_needed_a=left.still_needed_a,
        expires_at=_expiry(ctx.now(), tenant.payment_expiry_days),
        amount=body.amount,
        currency=body.currency,
    )
    approvers = []
    for person in repository.colleagues(session, subject.tenant_id, exclude=actor.user_id):
        answer = check(
            session,
            ctx,
            "payment.approve",
            Resource.of_account(subject),
            actor=actor_of(person),
            approval=hypothetical,
            record=False,
        )
        if answer.allowed:
            grant = next(g for g in answer.facts.grants if g.id == answer.decision.grant_id)
            approvers.append(
                PossibleApprover(
                    user_id=person.id or 0,
                    display_name=person.display_name,
                    approval_group=grant.approval_group,
                )
            )
    return PaymentPreview(outcome="pending_approval", required=required, approvers=approvers)


def _ledger_refusal(
    body: PaymentCreate, subject: Account, credit: Account, today: dt.date | None
) -> MandateError | None:
    """What the payment itself would be refused for after the policy allowed it (the same
    checks, in the same order), or None."""
    try:
        if subject.currency != body.currency:
            raise InvalidRequest(
                f"account {subject.id} is in {subject.currency}, the amount in {body.currency}",
                code="currency_mismatch",
            )
        _require_receiving(credit, subject, body.currency)
        _check_execution_date(body, today)
        _require_available(subject, body.amount, body.currency)
        if subject.status != "open":
            raise Conflict(
                f"account {subject.id} is {subject.status}", code=f"account_{subject.status}"
            )
    except MandateError as refusal:
        return refusal
    return None


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
    )
    grant = next(g for g in verdict.facts.grants if g.id == verdict.decision.grant_id)
    now = ctx.now()
    approval = PaymentApproval(
        payment_id=payment_id,
        approver_id=actor.user_id,
        grant_id=grant.id,
        approval_group=grant.approval_group,
        created_at=now,
    )
    session.add(approval)
    approvals = [*approvals, approval]
    after = progress(panel, [a.approval_group for a in approvals])
    amount = format_amount(payment.amount, payment.currency)
    name = _beneficiary_name(session, payment)
    if after.satisfied:
        _post(session, ctx, payment, subject, credit)
        said = f"approved payment {payment_id} of {amount} to {name}; it is {payment.status}"
    else:
        said = (
            f"approved payment {payment_id} of {amount} to {name}; "
            f"it needs {describe_needed(after)}"
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
    _release(session, payment, status, ended_by=ctx.require_actor().user_id, now=ctx.now())
    payment.end_reason = reason
    session.flush()
    name = _beneficiary_name(session, payment)
    amount = format_amount(payment.amount, payment.currency)
    if ctx.audit.activity:
        ctx.audit.activity.account_id = payment.account_id
        ctx.audit.activity.amount = payment.amount
        ctx.audit.activity.currency = payment.currency
    ctx.audit.done(f"{status} payment {payment_id} of {amount} to {name}")
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


def _post(
    session: Session, ctx: RequestContext, payment: Payment, subject: Account, credit: Account
) -> None:
    """Move the money of a payment whose panel is satisfied: its hold becomes the posting."""
    assert subject.id is not None and credit.id is not None
    # The hold is this payment's own: the floor is checked without it, then it is consumed.
    released = Account(**{**subject.model_dump(), "held": subject.held - payment.amount})
    _require_available(released, payment.amount, payment.currency)
    _require_receiving(credit, subject, payment.currency)
    posting = plan_transfer(
        Movement(
            kind="payment",
            subject_id=subject.id,
            counterparty_id=credit.id,
            amount=payment.amount,
            currency=payment.currency,
            description=payment.reference,
        ),
        released,
        credit,
        initiated_by=payment.initiated_by_id,
        grant_id=payment.grant_id,
        day=None,
        now=ctx.now(),
    )
    # Released before the money moves: the database's floor (balance - held) would otherwise
    # count the amount twice, held and posted, and refuse a payment of over half the balance.
    repository.change_held(session, subject.id, -payment.amount, ctx.now())
    payment.transfer_id = ledger.post_transfer(session, posting)
    payment.status = "sent" if payment.kind == "external" else "posted"
    payment.ended_at = ctx.now()


def _require_available(account: Account, amount: int, currency: str) -> None:
    """422 insufficient_available unless `amount` fits in what the account has available:
    balance + overdraft limit - holds (core.ledger.posting.available)."""
    if may_debit(account, amount):
        return
    raise InvalidRequest(
        f"account {account.id} has {format_amount(max(available(account), 0), currency)} "
        f"available (balance {format_amount(account.balance, currency)}, held for payments "
        f"awaiting approval {format_amount(account.held, currency)}); this payment needs "
        f"{format_amount(amount, currency)}",
        code="insufficient_available",
    )


def _require_receiving(credit: Account, subject: Account, currency: str) -> None:
    """Whether the beneficiary's account takes this payment: open, and in its currency.
    Another company's account is never described: whatever the reason (frozen, closed,
    another currency) the answer is the same 409 beneficiary_account_unavailable, without its
    id. The company's own account, or the clearing account, may be named."""
    if credit.tenant_id is not None and credit.tenant_id != subject.tenant_id:
        if credit.status != "open" or credit.currency != currency:
            raise Conflict(
                "the beneficiary's account cannot receive this payment",
                code="beneficiary_account_unavailable",
            )
        return
    if credit.currency != currency:
        raise InvalidRequest(
            f"account {credit.id} is in {credit.currency}, the payment in {currency}: a "
            "payment moves one currency",
            code="currency_mismatch",
        )


def _release(
    session: Session, payment: Payment, status: str, *, ended_by: int | None, now: dt.datetime
) -> None:
    """End a waiting payment without moving money: release its hold and give its amount back
    to the limits it counted against. The payment and its account are locked."""
    repository.change_held(session, payment.account_id, -payment.amount, now)
    if payment.grant_id is not None and payment.spend_day is not None:
        spend.record(session, _spend(payment, -payment.amount))
    payment.status = status
    payment.ended_at = now
    payment.ended_by_id = ended_by


def _spend(payment: Payment, amount: int) -> spend.Spend:
    assert payment.grant_id is not None and payment.spend_day is not None
    return spend.Spend(
        payment.grant_id, payment.initiated_by_id, payment.currency, payment.spend_day, amount
    )


# -- expiry ----------------------------------------------------------------------------------


def expire_payments(session: Session, ctx: RequestContext) -> int:
    """Expire every payment still waiting past its expiry (`mandate payments expire`)."""
    return _expire_lapsed(session, ctx, limit=None)


def _expire_lapsed(
    session: Session,
    ctx: RequestContext,
    *,
    account_id: int | None = None,
    limit: int | None = LAZY_EXPIRY_BATCH,
) -> int:
    """Expire lapsed payments (of one account, or all). A payment still waiting past its
    expiry is already refused every approval (conditions.polar: payment_not_pending); this
    releases its hold and its limits."""
    lapsed = _lock_lapsed(session, ctx.now(), account_id=account_id, limit=limit)
    ledger.lock_accounts(session, {p.account_id for p in lapsed})
    _expire(session, lapsed, ctx.now())
    return len(lapsed)


def _lock_lapsed(
    session: Session,
    now: dt.datetime,
    *,
    account_id: int | None = None,
    limit: int | None = LAZY_EXPIRY_BATCH,
) -> list[Payment]:
    """The payments still waiting past their expiry (of one account, or all), each locked, in
    id order, before any account: as every payment operation locks. (A payment locked after
    an account, while an approval holds the payment and waits for the account, deadlocks.)"""
    ids = repository.lapsed_ids(session, now, account_id=account_id)
    locked = (repository.lock_payment(session, i) for i in (ids if limit is None else ids[:limit]))
    return [p for p in locked if p is not None and p.status == "pending_approval"]


def _expire(session: Session, lapsed: Sequence[Payment], now: dt.datetime) -> None:
    """End locked lapsed payments; their accounts are locked too."""
    for payment in lapsed:
        _release(session, payment, "expired", ended_by=None, now=now)
        payment.end_reason = "no approval in time"
    session.flush()


# -- reading ---------------------------------------------------------------------------------


def get_payment(session: Session, ctx: RequestContext, payment_id: int) -> PaymentPublic:
    """A payment with its approval trail; 404 unless the caller may read the paying account."""
    payment = repository.payment(
        session, payment_id, within=payments_within_reach(ctx.require_actor())
    )
    missing = NotFound(f"payment {payment_id} not found")
    if payment is None:
        raise missing
    account = ledger.account_snapshot(session, payment.account_id)
    assert account is not None
    require_readable(
        session, ctx, "account.read", Resource.of_account(account), not_found=missing.detail
    )
    approvals = repository.approvals_of(session, [payment_id])[payment_id]
    return payment_public(payment, approvals, _beneficiary_name(session, payment), ctx.now())


def list_payments(
    session: Session,
    ctx: RequestContext,
    *,
    status: str | None = None,
    account_id: int | None = None,
    beneficiary_id: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[PaymentPublic]:
    """The payments from accounts the caller may read, newest first, filtered in the query."""
    page = PageRequest.of(cursor, limit)
    readable_ids = ledger.accounts(readable_accounts(session, ctx)).with_only_columns(
        col(Account.id)
    )
    where: ColumnElement[bool] = col(Payment.account_id).in_(readable_ids)
    if status is not None:
        where = where & _status_is(status, ctx.now())
    if account_id is not None:
        where = where & (col(Payment.account_id) == account_id)
    if beneficiary_id is not None:
        where = where & (col(Payment.beneficiary_id) == beneficiary_id)
    found = paginate(
        session,
        repository.payments(where),
        col(Payment.id),
        page,
        shape=lambda p: p,
        newest_first=True,
    )
    return Page(items=_publics(session, found.items, ctx.now()), next_cursor=found.next_cursor)


def _status_is(status: str, now: dt.datetime) -> ColumnElement[bool]:
    """Payments in `status` as readers see it: one still waiting past its expiry is expired
    (its hold is released when it is next written: `mandate payments expire`, or a payment
    from its account)."""
    column = col(Payment.status)
    if status == "pending_approval":
        return (column == status) & (col(Payment.expires_at) > now)
    if status == "expired":
        return (column == status) | (
            (column == "pending_approval") & (col(Payment.expires_at) <= now)
        )
    return column == status


def inbox(session: Session, ctx: RequestContext, *, limit: int = 100) -> list[InboxItem]:
    """What the caller may approve now, oldest first: the payments waiting on accounts where
    a grant of theirs carries payment.approve, each kept only if the policy would let them
    approve it (the same decision as the approval itself), with what approving would do."""
    waiting = repository.awaiting(
        session,
        readable_accounts(session, ctx, "payment.approve"),
        ctx.require_actor().user_id,
        ctx.now(),
        limit=limit,
    )
    approvals = repository.approvals_of(session, [p.id or 0 for p in waiting])
    names = repository.beneficiary_names(session, [p.beneficiary_id for p in waiting])
    items = []
    for payment in waiting:
        given = approvals[payment.id or 0]
        account = ledger.account_snapshot(session, payment.account_id)
        assert account is not None
        verdict = check(
            session,
            ctx,
            "payment.approve",
            Resource.of_account(account),
            approval=approval_of(payment, given),
            record=False,
        )
        if not verdict.allowed:
            continue
        grant = next(g for g in verdict.facts.grants if g.id == verdict.decision.grant_id)
        items.append(
            InboxItem(
                payment=payment_public(
                    payment, given, names.get(payment.beneficiary_id, ""), ctx.now()
                ),
                approving_would=approving_would(payment, given, grant.approval_group),
            )
        )
    return items


def approving_would(
    payment: Payment, approvals: Sequence[PaymentApproval], group: str | None
) -> str:
    """What one more approval, from `group`, would do to a waiting payment: "post it", "send
    it", or "leave 1 more approval from group A to go"."""
    panel = Panel(payment.required_approvals, payment.required_group_a)
    after = progress(panel, [*(a.approval_group for a in approvals), group])
    if not after.satisfied:
        return f"leave {describe_needed(after)} to go"
    return "send it" if payment.kind == "external" else "post it"


def payable_beneficiaries(session: Session, ctx: RequestContext) -> list[Beneficiary]:
    """The beneficiaries the caller's company can pay now (active, not deleted), by name:
    what a payment form offers. Empty unless the caller may read beneficiaries."""
    actor = ctx.require_actor()
    if actor.tenant_id is None:
        return []
    readable = readable_in_tenant(
        session,
        ctx,
        "beneficiary.read",
        tenant_column=col(Beneficiary.tenant_id),
        bank_column=col(Beneficiary.bank_id),
    )
    return list(
        session.scalars(
            select(Beneficiary)
            .where(
                readable,
                col(Beneficiary.status) == "active",
                col(Beneficiary.deleted_at).is_(None),
            )
            .order_by(col(Beneficiary.name), col(Beneficiary.id))
            .limit(500)
        )
    )


def _publics(session: Session, rows: Sequence[Payment], now: dt.datetime) -> list[PaymentPublic]:
    approvals = repository.approvals_of(session, [p.id or 0 for p in rows])
    names = repository.beneficiary_names(session, [p.beneficiary_id for p in rows])
    return [
        payment_public(p, approvals[p.id or 0], names.get(p.beneficiary_id, ""), now) for p in rows
    ]


def _beneficiary_name(session: Session, payment: Payment) -> str:
    return repository.beneficiary_names(session, [payment.beneficiary_id]).get(
        payment.beneficiary_id, ""
    )


def payment_public(
    payment: Payment,
    approvals: Sequence[PaymentApproval],
    beneficiary_name: str,
    now: dt.datetime | None = None,
) -> PaymentPublic:
    """The payment as the API shows it. Seen at `now`, one still waiting past its expiry is
    expired, whether or not its hold was released yet."""
    assert payment.id is not None
    panel = Panel(payment.required_approvals, payment.required_group_a)
    status = payment.status
    if (
        status == "pending_approval"
        and now is not None
        and payment.expires_at is not None
        and payment.expires_at <= now
    ):
        status = "expired"
    left: Progress = (
        progress(panel, [a.approval_group for a in approvals])
        if status == "pending_approval"
        else Progress(0, 0)
    )
    return PaymentPublic(
        id=payment.id,
        account_id=payment.account_id,
        beneficiary_id=payment.beneficiary_id,
        beneficiary_name=beneficiary_name,
        kind=payment.kind,
        amount=payment.amount,
        currency=payment.currency,
        reference=payment.reference,
        execution_date=payment.execution_date,
        status=status,
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
        expires_at=payment.expires_at,
        transfer_id=payment.transfer_id,
        initiated_by=payment.initiated_by_id,
        created_at=payment.created_at,
        ended_at=payment.ended_at,
        ended_by=payment.ended_by_id,
        end_reason=payment.end_reason,
    )


def _gate(
    session: Session, ctx: RequestContext, account: Account | None, account_id: int
) -> Account:
    """The paying account, if the caller may read it; 404 otherwise (no leak)."""
    missing = f"account {account_id} not found"
    if account is None:
        raise NotFound(missing)
    require_readable(session, ctx, "account.read", Resource.of_account(account), not_found=missing)
    return account


def _replayed(ctx: RequestContext, body: dict[str, Any]) -> PaymentResult:
    payment = PaymentPublic.model_validate(body)
    if ctx.audit.activity:
        ctx.audit.activity.replayed = True
        ctx.audit.activity.transfer_id = payment.transfer_id
    return PaymentResult(payment, replayed=True)
