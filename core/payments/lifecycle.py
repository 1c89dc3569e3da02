"""How a payment ends, and when: its money moves (posted, sent), it waits for its execution
date (scheduled), or it ends without moving money (rejected, cancelled, expired, failed),
releasing its hold and giving its amount back to the limits it counted against.

A payment made for a later day (execution_date after the company's today, at most
EXECUTION_HORIZON_DAYS ahead) whose panel is satisfied, at once or by its last approval, is
scheduled: its hold stays and its limits were counted when it was made. It executes on its
date, exactly once: by `mandate payments run`, or on the way of whoever next touches it or its
account (a GET of the payment, a new payment from the account, a debit of the account). An
account that can no longer be debited on that day (frozen, closed) or a beneficiary's account
that cannot receive ends it `failed`, with the reason: released, never half posted.

Deleting a beneficiary ends its payments whose money has not moved (waiting for approval, or
scheduled) `cancelled`, "beneficiary deleted", in the same transaction; and nothing is ever
posted to a deleted beneficiary (one made at the instant it was deleted, say): an approval is
refused, a scheduled payment ends cancelled on its day.

Locks, as every payment operation takes them: payment rows first (in id order), then the
accounts in id order (core.ledger.repository.lock_accounts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidRequest, MandateError
from core.ledger import repository as ledger
from core.ledger.posting import Movement, available, may_debit, plan_transfer
from core.models.ledger import Account
from core.models.payments import Payment
from core.money import format_amount
from core.payments import repository
from core.payments.events import record_step
from core.payments.schemas import EXECUTION_HORIZON_DAYS
from core.policy import spend
from core.policy.repository import tenant_zone
from core.policy.shaping import tenant_day

# At most this many lapsed or due payments are settled by one request on its way (the command
# `mandate payments run` takes them all).
LAZY_BATCH = 100
# The payments whose money has not moved yet: their amounts are held.
UNMOVED = ("pending_approval", "scheduled")
# The end reason of a payment ended because its beneficiary was deleted.
BENEFICIARY_DELETED = "beneficiary deleted"


# -- execution dates ---------------------------------------------------------------------------


def company_today(session: Session, tenant_id: int, now: dt.datetime) -> dt.date:
    """The company's day at `now`, in its time zone: a payment's execution date counts there."""
    return tenant_day(now, tenant_zone(session, tenant_id))[0]


def check_execution_date(execution_date: dt.date | None, today: dt.date) -> None:
    """422 invalid_execution_date unless the date is today or a later day within the horizon
    (unset means today)."""
    if execution_date is None:
        return
    if execution_date < today:
        raise InvalidRequest(
            f"the execution date {execution_date.isoformat()} has passed: the earliest is "
            f"today, {today.isoformat()} (the company's day)",
            code="invalid_execution_date",
        )
    latest = today + dt.timedelta(days=EXECUTION_HORIZON_DAYS)
    if execution_date > latest:
        raise InvalidRequest(
            f"the execution date can be at most {EXECUTION_HORIZON_DAYS} days ahead, "
            f"{latest.isoformat()} (the company's day)",
            code="invalid_execution_date",
        )


def is_due(payment: Payment, today: dt.date) -> bool:
    """Whether a payment's money may move on `today` (no execution date: at once)."""
    return payment.execution_date is None or payment.execution_date <= today


# -- moving the money, or not ------------------------------------------------------------------


def settle_approved(
    session: Session,
    payment: Payment,
    subject: Account,
    credit: Account,
    now: dt.datetime,
    *,
    by: int | None,
) -> None:
    """A payment whose panel is satisfied (its amount held) by `by`'s approval: posted now if
    its day has come, scheduled for its execution date otherwise (its hold stays; it no
    longer expires)."""
    if is_due(payment, company_today(session, payment.tenant_id, now)):
        post(session, payment, subject, credit, now, by=by)
        return
    payment.status = "scheduled"
    payment.expires_at = None
    record_step(session, payment, "scheduled", actor_id=by, at=now)


def post(
    session: Session,
    payment: Payment,
    subject: Account,
    credit: Account,
    now: dt.datetime,
    *,
    by: int | None,
) -> None:
    """Move the money of a payment whose panel is satisfied: its hold becomes the posting
    (`by`: whose approval; None: Mandate, on its execution date). Every check comes before
    anything is written: a refusal leaves the payment as it was."""
    assert subject.id is not None and credit.id is not None
    require_payee(session, payment)
    # The hold is this payment's own: the floor is checked without it, then it is consumed.
    released = Account(**{**subject.model_dump(), "held": subject.held - payment.amount})
    require_available(released, payment.amount, payment.currency)
    require_receiving(credit, subject, payment.currency)
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
        now=now,
    )
    # Released before the money moves: the database's floor (balance - held) would otherwise
    # count the amount twice, held and posted, and refuse a payment of over half the balance.
    repository.change_held(session, subject.id, -payment.amount, now)
    payment.transfer_id = ledger.post_transfer(session, posting)
    payment.status = "sent" if payment.kind == "external" else "posted"
    payment.expires_at = None
    payment.ended_at = now
    record_step(session, payment, payment.status, actor_id=by, at=now)


def require_payee(session: Session, payment: Payment) -> None:
    """409 beneficiary_deleted when the payment's beneficiary was deleted since it was made:
    nothing more is paid to it."""
    if repository.beneficiary_deleted(session, payment.beneficiary_id):
        raise Conflict(
            f"the beneficiary of payment {payment.id} was deleted: nothing more is paid to it",
            code="beneficiary_deleted",
        )


def require_available(account: Account, amount: int, currency: str) -> None:
    """422 insufficient_available unless `amount` fits in what the account has available:
    balance + overdraft limit - holds (core.ledger.posting.available)."""
    if may_debit(account, amount):
        return
    raise InvalidRequest(
        f"account {account.id} has {format_amount(max(available(account), 0), currency)} "
        f"available (balance {format_amount(account.balance, currency)}, held for payments "
        f"awaiting approval or execution {format_amount(account.held, currency)}); this "
        f"payment needs {format_amount(amount, currency)}",
        code="insufficient_available",
    )


def require_receiving(credit: Account, subject: Account, currency: str) -> None:
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
    require_currency(credit, currency)


def require_currency(account: Account, currency: str) -> None:
    """422 currency_mismatch unless `account` is in `currency`: a payment moves one currency."""
    if account.currency != currency:
        raise InvalidRequest(
            f"account {account.id} is in {account.currency}, the payment in {currency}: a "
            "payment moves one currency",
            code="currency_mismatch",
        )


def release(
    session: Session,
    payment: Payment,
    status: str,
    *,
    ended_by: int | None,
    reason: str,
    now: dt.datetime,
) -> None:
    """End a held payment without moving money, for `reason`: release its hold and give its
    amount back to the limits it counted against. The payment and its account are locked."""
    repository.change_held(session, payment.account_id, -payment.amount, now)
    if payment.grant_id is not None and payment.spend_day is not None:
        spend.record(session, counted(payment, -payment.amount))
    payment.status = status
    payment.ended_at = now
    payment.ended_by_id = ended_by
    payment.end_reason = reason
    record_step(session, payment, status, actor_id=ended_by, at=now, detail=reason)


def end_unmoved_payments_to(
    session: Session, beneficiary_id: int, *, ended_by: int, now: dt.datetime
) -> list[Payment]:
    """End every payment to a beneficiary being deleted whose money has not moved (waiting
    for approval, or scheduled) `cancelled`, "beneficiary deleted": holds released, amounts
    given back to the limits. The payments are locked first, in id order (one another
    transaction holds is waited for; once ours, one that ended meanwhile is left alone),
    then their accounts. The payments ended, as they are now."""
    ids = repository.unmoved_payment_ids_to(session, beneficiary_id)
    locked = [p for p in (repository.lock_payment(session, i) for i in ids) if p is not None]
    unmoved = [p for p in locked if p.status in UNMOVED]
    if not unmoved:
        return []
    ledger.lock_accounts(session, {p.account_id for p in unmoved})
    for payment in unmoved:
        release(
            session, payment, "cancelled", ended_by=ended_by, reason=BENEFICIARY_DELETED, now=now
        )
    session.flush()
    return unmoved


def counted(payment: Payment, amount: int) -> spend.Spend:
    """`amount` on the payment's grant and person totals, on the day its limits counted."""
    assert payment.grant_id is not None and payment.spend_day is not None
    return spend.Spend(
        payment.grant_id, payment.initiated_by_id, payment.currency, payment.spend_day, amount
    )


# -- settling what is due: lapsed payments expire, scheduled payments execute ------------------


@dataclass(frozen=True)
class Settled:
    """What one settling run did."""

    expired: int = 0
    executed: int = 0
    failed: int = 0  # not executed: failed, or cancelled (its beneficiary deleted)
    # The payments it ended or executed, as they are now (for their initiators' activity).
    ended: tuple[Payment, ...] = ()


def settle(
    session: Session,
    now: dt.datetime,
    *,
    account_id: int | None = None,
    payment_id: int | None = None,
    also_lock: Iterable[int] = (),
    limit: int | None = LAZY_BATCH,
    execute_due: bool = True,
) -> Settled:
    """Expire the payments still waiting past their expiry and (unless `execute_due` is
    False: `mandate payments expire`) execute the scheduled payments whose day has come: all
    of them, one account's, or one payment. The payments are locked first, in id order (one
    another transaction holds is waited for, not skipped: its hold would otherwise stand in
    the way; once the lock is ours, one already settled is left alone), then their accounts
    and `also_lock` (the caller's own accounts, so that every account is locked in one id
    order)."""
    ids = set(repository.lapsed_ids(session, now, account_id=account_id, payment_id=payment_id))
    if execute_due:
        ids |= set(
            repository.scheduled_ids(session, now, account_id=account_id, payment_id=payment_id)
        )
    chosen = sorted(ids) if limit is None else sorted(ids)[:limit]
    locked = [p for p in (repository.lock_payment(session, i) for i in chosen) if p is not None]
    lapsed = [p for p in locked if _lapsed(p, now)]
    due = _due(session, locked, now) if execute_due else []
    if not lapsed and not due:
        return Settled()  # nothing to settle: the caller locks its own accounts
    accounts = {p.account_id for p in lapsed} | {*also_lock}
    for payment in due:
        accounts |= {payment.account_id, payment.credit_account_id}
    ledger.lock_accounts(session, accounts)
    for payment in lapsed:
        release(session, payment, "expired", ended_by=None, reason="no approval in time", now=now)
    failed = sum(0 if execute(session, payment, now) else 1 for payment in due)
    session.flush()
    return Settled(
        expired=len(lapsed),
        executed=len(due) - failed,
        failed=failed,
        ended=(*lapsed, *due),
    )


def _lapsed(payment: Payment, now: dt.datetime) -> bool:
    return (
        payment.status == "pending_approval"
        and payment.expires_at is not None
        and payment.expires_at <= now
    )


def _due(session: Session, locked: Sequence[Payment], now: dt.datetime) -> list[Payment]:
    """The scheduled payments among `locked` whose day has come in their company's zone."""
    today: dict[int, dt.date] = {}
    due = []
    for payment in locked:
        if payment.status != "scheduled":
            continue
        if payment.tenant_id not in today:
            today[payment.tenant_id] = company_today(session, payment.tenant_id, now)
        if is_due(payment, today[payment.tenant_id]):
            due.append(payment)
    return due


def execute(session: Session, payment: Payment, now: dt.datetime) -> bool:
    """Move the money of a scheduled payment on its day (it and its accounts are locked).
    Whatever refuses the posting (the account frozen or closed since, the beneficiary's
    account unable to receive) ends the payment failed, its hold released and its amount
    given back to its limits; nothing is posted. One whose beneficiary was deleted since ends
    cancelled, as the deletion ends the others. True when the money moved."""
    accounts = ledger.lock_accounts(session, [payment.account_id, payment.credit_account_id])
    subject, credit = accounts[payment.account_id], accounts[payment.credit_account_id]
    if repository.beneficiary_deleted(session, payment.beneficiary_id):
        release(session, payment, "cancelled", ended_by=None, reason=BENEFICIARY_DELETED, now=now)
        return False
    try:
        post(session, payment, subject, credit, now, by=None)
    except MandateError as refusal:
        reason = f"not executed on its date: {refusal.detail}"[:500]
        release(session, payment, "failed", ended_by=None, reason=reason, now=now)
        return False
    return True
