"""What an explanation says about the payment it is about (payment.approve, payment.reject,
payment.cancel): which payment, found as the API finds it, and where it stands, in words;
to whoever prepared it, plainly that they cannot approve it, and what it still needs."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import RequestContext
from core.errors import InvalidRequest, NotFound
from core.models.iam import User
from core.models.ledger import Account
from core.models.payments import Payment
from core.policy import repository
from core.policy.facts import Approval, Resource
from core.policy.filters import payments_within_reach
from core.policy.panels import Progress, approval_of, describe_needed, is_about_a_payment
from core.policy.reasons import still_needs
from core.policy.service import require_readable


class PaymentStanding(BaseModel):
    """The payment an explanation of an approval, a rejection or a cancellation is about, as
    it stands at the explanation's time."""

    payment_id: int
    # As readers see it: a payment still waiting past its expiry is expired.
    status: str
    initiated_by: int
    # The user asked about prepared it: they never approve it themselves.
    prepared_by_user: bool
    approvers: list[int]
    still_needed: int
    still_needed_a: int
    # Where it stands in words: "The payment awaits 1 more approval from group A.", or, to
    # whoever prepared it, that they cannot approve it and what it still needs.
    text: str


def payment_subject(
    session: Session,
    ctx: RequestContext,
    user: User,
    action: str,
    payment_id: int | None,
    account_id: int | None,
    amount: int | None,
    to_account_id: int | None,
) -> tuple[Resource, Payment, Approval]:
    """The account a payment is paid from, the payment, and its facts. A payment is as
    visible as its account: one the caller may not explain decisions about is not found."""
    if payment_id is None:
        raise InvalidRequest(f"{action} is about a payment: give its id", code="invalid_request")
    if not is_about_a_payment(action):
        raise InvalidRequest(
            f"{action} is not about a payment: approve, reject or cancel one",
            code="invalid_request",
        )
    if amount is not None or to_account_id is not None:
        raise InvalidRequest(
            "a payment's amount and beneficiary are its own: give neither with a payment",
            code="invalid_request",
        )
    missing = f"payment {payment_id} not found"
    reach = payments_within_reach(ctx.require_actor())
    payment = session.scalars(select(Payment).where(col(Payment.id) == payment_id, reach)).first()
    account = session.get(Account, payment.account_id) if payment is not None else None
    if payment is None or account is None:
        raise NotFound(missing)
    require_readable(session, ctx, "authz.explain", Resource.of_account(account), not_found=missing)
    if account.bank_id != user.bank_id:
        raise NotFound(missing)
    if account_id is not None and account_id != payment.account_id:
        raise InvalidRequest(
            f"payment {payment_id} is paid from account {payment.account_id}",
            code="invalid_request",
        )
    approval = approval_of(payment, repository.payment_approvals(session, payment_id))
    return Resource.of_account(account), payment, approval


def standing(
    payment: Payment, approval: Approval, user: User, action: str, when: dt.datetime
) -> PaymentStanding:
    """Where the payment stands at `when`, for `user` asked about doing `action` to it."""
    waiting = approval.status == "pending_approval" and when < approval.expires_at
    status = approval.status if waiting or approval.status != "pending_approval" else "expired"
    own = approval.initiator_id == user.id
    left = Progress(approval.still_needed, approval.still_needed_a)
    if not waiting:
        text = f"The payment is {status.replace('_', ' ')}: it awaits no approval."
    elif own and action == "payment.cancel":
        text = (
            f"{user.display_name} prepared this payment and may cancel it while it waits. "
            f"It needs {describe_needed(left)}."
        )
    elif own:
        verb = "reject" if action == "payment.reject" else "approve"
        text = (
            f"{user.display_name} prepared this payment and cannot {verb} it: nobody "
            f"approves their own. {still_needs(left)}"
        )
    else:
        text = f"The payment awaits {describe_needed(left)}."
    return PaymentStanding(
        payment_id=payment.id or 0,
        status=status,
        initiated_by=approval.initiator_id,
        prepared_by_user=own,
        approvers=list(approval.approver_ids),
        still_needed=approval.still_needed,
        still_needed_a=approval.still_needed_a,
        text=text,
    )
