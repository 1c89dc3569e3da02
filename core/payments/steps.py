"""The initiator's activity: the steps others, or Mandate itself, take on a payment (an
approval, a rejection, an admin's cancellation; posted, scheduled, executed, failed, expired,
cancelled with its beneficiary),
each added to the request's trail for who prepared the payment (core.context.PaymentStep),
written with the commit (core.audit.service.write_trail)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from core.context import PaymentStep, RequestContext
from core.models.iam import User
from core.models.payments import Payment
from core.money import format_amount
from core.payments import lifecycle, repository
from core.payments.terms import day_text


def tell_settled(session: Session, ctx: RequestContext, settled: lifecycle.Settled) -> None:
    """Tell who prepared each payment `settled` ended or executed what became of it."""
    tell_became(session, ctx, settled.ended, None)


def tell_became(
    session: Session, ctx: RequestContext, payments: Sequence[Payment], acted_by: int | None
) -> None:
    """Tell who prepared each of `payments` what became of it, by `acted_by` (None: by
    Mandate itself), e.g. cancelled when `acted_by` deleted its beneficiary."""
    names = repository.beneficiary_names(session, [p.beneficiary_id for p in payments])
    for payment in payments:
        amount = format_amount(payment.amount, payment.currency)
        what = your_payment(payment, amount, names.get(payment.beneficiary_id, ""))
        tell(ctx, payment, f"payment.{payment.status}", became(payment, what), acted_by)


def became(payment: Payment, what: str) -> str:
    """What became of a payment, in words: posted, sent, scheduled, executed, expired, failed,
    or cancelled without a person's reason (its beneficiary deleted)."""
    if payment.status == "scheduled":
        return f"{what} is approved: it executes on {day_text(payment)}"
    if payment.status == "expired":
        return f"{what} expired: not approved in time, its hold is released"
    if payment.status == "failed":
        return f"{what} failed: {payment.end_reason}; its hold is released"
    if payment.status == "cancelled":
        return f"{what} is cancelled: {payment.end_reason}; its hold is released"
    on_its_day = " on its date" if payment.execution_date else ""
    return f"{what} is {payment.status}{on_its_day}: the money has moved"


def your_payment(payment: Payment, amount: str, beneficiary: str) -> str:
    return f"your payment {payment.id} of {amount} to {beneficiary}"


def tell(
    ctx: RequestContext, payment: Payment, action: str, detail: str, acted_by: int | None
) -> None:
    """A step of `payment` for the activity of who prepared it, unless they took it (their
    own activity tells it already). Told with the commit only (core.audit.service)."""
    if acted_by == payment.initiated_by_id:
        return
    assert payment.id is not None
    ctx.audit.steps.append(
        PaymentStep(
            user_id=payment.initiated_by_id,
            tenant_id=payment.tenant_id,
            action=action,
            detail=detail,
            payment_id=payment.id,
            acted_by=acted_by,
            account_id=payment.account_id,
            amount=payment.amount,
            currency=payment.currency,
            transfer_id=payment.transfer_id,
        )
    )


def name_of(session: Session, user_id: int) -> str:
    person = session.get(User, user_id)
    return person.display_name if person else f"user {user_id}"
