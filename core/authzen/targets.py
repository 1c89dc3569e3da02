"""Who and what a question is about, found as the API finds them, and shaped as the API asks
the policy about them: the subject as an Actor, the resource as the policy's Resource with
the money or the payment a decision about it reads.

Everything is looked up within the reach of the service asking (core.policy.filters:
within_reach, in the query): another company's person, account, payment or beneficiary is as
absent as one that does not exist, on the same path to the same answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.authzen.questions import SUBJECT_KINDS, Question, Unanswerable
from core.context import Actor, Authentication
from core.fields import MAX_ID
from core.ledger import repository as ledger
from core.models.iam import User, actor_of
from core.models.ledger import Account
from core.models.payments import Beneficiary, Payment
from core.payments import repository as payments
from core.payments.beneficiaries import payment_money
from core.policy import repository
from core.policy.engine import PolicyEngine
from core.policy.facts import Approval, Money, Resource
from core.policy.filters import accounts_within_reach, payments_within_reach, within_reach
from core.policy.panels import approval_of, is_about_a_payment


@dataclass(frozen=True)
class Target:
    """What the policy is asked about: the resource, and the money or payment it reads."""

    resource: Resource
    money: Money | None = None
    approval: Approval | None = None


class OutOfReach(Exception):
    """Not found, for the service asking: `kind` and `identifier` as the question named it."""

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"{kind} {identifier} not found")
        self.kind = kind
        self.identifier = identifier


Memo = dict[Any, Any]


def subject_of(
    session: Session, asker: Actor, question: Question, memo: Memo | None = None
) -> Actor:
    """The person asked about, within the asker's reach; with how they authenticated, when
    the question says (a step-up reads it; unknown otherwise, as an explanation treats
    anyone but the one asking). A deactivated person answers as one not there: they may do
    nothing, and their name tells nothing."""
    key = ("authzen.subject", question.subject.type, question.subject.id)
    if memo is not None and key in memo:
        user = memo[key]
    else:
        reach = within_reach(
            asker, tenant_column=col(User.tenant_id), bank_column=col(User.bank_id)
        )
        kind = SUBJECT_KINDS[question.subject.type]
        user = session.scalars(
            select(User).where(
                col(User.username) == question.subject.id, col(User.kind) == kind, reach
            )
        ).first()
        if memo is not None:
            memo[key] = user
    if user is None or not user.is_active:
        raise OutOfReach(question.subject.type, question.subject.id)
    return actor_of(user, _authentication(question))


def _authentication(question: Question) -> Authentication | None:
    context = question.context
    if context.amr is None and context.auth_time is None:
        return None
    if context.amr is None or context.auth_time is None:
        raise Unanswerable(
            "amr and auth_time go together: give both or neither", code="invalid_request"
        )
    return Authentication(methods=tuple(context.amr), at=context.auth_time)


def _id(identifier: str) -> int | None:
    """A Mandate id, or None for anything that cannot be one (not found, like a missing one)."""
    if not identifier.isascii() or not identifier.isdigit() or len(identifier) > 10:
        return None
    value = int(identifier)
    return value if 1 <= value <= MAX_ID else None


def target_of(
    session: Session,
    engine: PolicyEngine,
    asker: Actor,
    subject: Actor,
    question: Question,
    memo: Memo | None = None,
) -> Target:
    """The resource the question is about, as the API's own guards shape it. `memo` (one per
    request) keeps the accounts a boxcar's questions name again and again."""
    kind, identifier = question.resource.type, question.resource.id
    number = _id(identifier)
    if kind == "account":
        account = _account(session, asker, number, memo)
        if account is None:
            raise OutOfReach(kind, identifier)
        return _account_target(session, engine, asker, account, question, memo)
    if kind == "payment":
        payment = (
            session.scalars(
                select(Payment).where(col(Payment.id) == number, payments_within_reach(asker))
            ).first()
            if number is not None
            else None
        )
        paying = session.get(Account, payment.account_id) if payment is not None else None
        if payment is None or paying is None:
            raise OutOfReach(kind, identifier)
        if not is_about_a_payment(question.action.name, engine):
            # Reading a payment is reading its account (core.payments.reading).
            return Target(Resource.of_account(paying))
        approvals = repository.payment_approvals(session, number or 0)
        return Target(Resource.of_account(paying), approval=approval_of(payment, approvals))
    beneficiary = _beneficiary(session, asker, number)
    if beneficiary is None:
        raise OutOfReach(kind, identifier)
    return Target(beneficiary_resource(beneficiary, subject))


def beneficiary_resource(beneficiary: Beneficiary, subject: Actor) -> Resource:
    """As core.payments.beneficiaries shapes it, for the person asked about: whether they
    added it (nobody approves a beneficiary they added)."""
    return Resource(
        "beneficiary",
        beneficiary.id,
        beneficiary.tenant_id,
        beneficiary.bank_id,
        extra=(("added_by_actor", beneficiary.created_by_id == subject.user_id),),
    )


def preload_accounts(session: Session, asker: Actor, questions: list[Question], memo: Memo) -> None:
    """Every account a boxcar's questions name (as their resource, or as where money goes),
    read in one query into `memo`: the questions then find them there, or find them absent."""
    numbers = {
        number
        for question in questions
        for identifier in (
            question.resource.id if question.resource.type == "account" else None,
            question.context.to_account,
        )
        if identifier is not None and (number := _id(identifier)) is not None
    }
    if not numbers:
        return
    found = session.scalars(
        select(Account).where(col(Account.id).in_(numbers), accounts_within_reach(asker))
    )
    by_id = {account.id: account for account in found}
    for number in numbers:
        memo[("authzen.account", number)] = by_id.get(number)


def _account(
    session: Session, asker: Actor, number: int | None, memo: Memo | None = None
) -> Account | None:
    if number is None:
        return None
    key = ("authzen.account", number)
    if memo is not None and key in memo:
        return memo[key]
    found = session.scalars(
        select(Account).where(col(Account.id) == number, accounts_within_reach(asker))
    ).first()
    if memo is not None:
        memo[key] = found
    return found


def _beneficiary(session: Session, asker: Actor, number: int | None) -> Beneficiary | None:
    if number is None:
        return None
    reach = within_reach(
        asker, tenant_column=col(Beneficiary.tenant_id), bank_column=col(Beneficiary.bank_id)
    )
    found = payments.beneficiary(session, number, within=reach)
    return found if found is not None and found.deleted_at is None else None


def _account_target(
    session: Session,
    engine: PolicyEngine,
    asker: Actor,
    account: Account,
    question: Question,
    memo: Memo | None,
) -> Target:
    """An account, and for a money move the money: the amount the context names, in the
    account's currency, to the account it names (a transfer), the beneficiary it names (a
    payment), or else where such money goes (another account of the company; the bank's
    clearing account), as an explanation supposes."""
    resource = Resource.of_account(account)
    action = question.action.name
    if not engine.holds("moves_money", action):
        return Target(resource)
    context = question.context
    if context.amount is None:
        raise Unanswerable(
            f"{action} needs the context's amount (minor units)", code="invalid_amount"
        )
    if context.currency is not None and context.currency != account.currency:
        raise Unanswerable(
            f"account {question.resource.id} holds {account.currency}", code="currency_mismatch"
        )
    if action == "payment.create" and context.beneficiary is not None:
        beneficiary = _beneficiary(session, asker, _id(context.beneficiary))
        if beneficiary is None or beneficiary.tenant_id != account.tenant_id:
            raise OutOfReach("beneficiary", context.beneficiary)
        credit = _credit(session, beneficiary, account)
        return Target(
            resource, payment_money(beneficiary, credit, context.amount, account.currency)
        )
    other = _counterparty(session, asker, account, action, context.to_account, memo)
    return Target(resource, Money(context.amount, account.currency, other))


def _credit(session: Session, beneficiary: Beneficiary, account: Account) -> Account:
    """Where a payment to the beneficiary goes (core.payments.terms.credit_account_id)."""
    if beneficiary.internal_account_id is not None:
        internal = session.get(Account, beneficiary.internal_account_id)
        if internal is not None:
            return internal
    return _clearing(session, account)


def _clearing(session: Session, account: Account) -> Account:
    found = ledger.clearing_account_id(session, account.bank_id, account.currency)
    clearing = session.get(Account, found) if found is not None else None
    return clearing or Account(
        bank_id=account.bank_id, name="", currency=account.currency, kind="clearing"
    )


def _counterparty(
    session: Session,
    asker: Actor,
    account: Account,
    action: str,
    to_account: str | None,
    memo: Memo | None,
) -> Account:
    if to_account is not None:
        # One the asker cannot reach is no account the money may go to: the policy refuses it
        # (counterparty_not_found), as it refuses another company's.
        found = _account(session, asker, _id(to_account), memo)
        return found or Account(bank_id=0, name="", currency=account.currency, kind="customer")
    if action == "transfer.create":
        return Account(
            bank_id=account.bank_id,
            tenant_id=account.tenant_id,
            name="",
            currency=account.currency,
            kind="customer",
        )
    return _clearing(session, account)


def instant(question: Question, now: dt.datetime) -> dt.datetime:
    """When the question is asked about: the context's `at` (or `time`), or now."""
    return question.context.instant() or now
