"""What a new payment is made of, shared by the payment and its preview: where its money goes
(the beneficiary's account, or the clearing account), which kind it is, when it expires, and
the checks on its accounts that come before any decision (readable, two of them, in the
payment's currency)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import InvalidRequest, NotFound
from core.ledger import repository as ledger
from core.models.ledger import Account
from core.models.payments import Beneficiary, Payment
from core.policy.facts import Resource
from core.policy.service import require_readable


def expiry_of(now: dt.datetime, days: int) -> dt.datetime:
    """When a payment made at `now` expires: `days` later, on a whole second. The policy reads
    times in whole seconds (conditions.polar: payment_not_pending compares now with the
    expiry), and against a whole second that is exact: the lists and a GET, which compare in
    full, then say what the decision says at every instant."""
    return (now + dt.timedelta(days=days)).replace(microsecond=0)


def credit_account_id(
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


def check_two_accounts(account_id: int, credit_id: int) -> None:
    if credit_id == account_id:
        raise InvalidRequest(
            "the beneficiary is this same account: a payment needs two different accounts",
            code="same_account",
        )


def kind_of(beneficiary: Beneficiary, subject: Account, credit: Account) -> str:
    if beneficiary.internal_account_id is None:
        return "external"
    return "own" if credit.tenant_id == subject.tenant_id else "internal"


def day_text(payment: Payment) -> str:
    return payment.execution_date.isoformat() if payment.execution_date else "today"


def require_subject_currency(subject: Account, currency: str) -> None:
    """422 currency_mismatch unless the paying account is in the payment's currency."""
    if subject.currency != currency:
        raise InvalidRequest(
            f"account {subject.id} is in {subject.currency}, the amount in {currency}",
            code="currency_mismatch",
        )


def readable_account(
    session: Session, ctx: RequestContext, account: Account | None, account_id: int
) -> Account:
    """The paying account, if the caller may read it; 404 otherwise (no leak)."""
    missing = f"account {account_id} not found"
    if account is None:
        raise NotFound(missing)
    require_readable(session, ctx, "account.read", Resource.of_account(account), not_found=missing)
    return account
