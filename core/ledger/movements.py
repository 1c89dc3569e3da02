"""Moving money: transfers between a company's accounts, deposits and withdrawals.

Every movement is one double-entry transfer: a debit entry and a credit entry of the same
amount, posted with the balances in the same transaction as its idempotency key and its
policy decision, under row locks taken in account-id order."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import InvalidRequest
from core.ledger import debits, idempotency, repository
from core.ledger.accounts import account_not_found, transfer_public
from core.ledger.posting import Movement, Posting, plan_transfer
from core.ledger.schemas import (
    DepositCreate,
    TransferCreate,
    TransferPublic,
    TransferResult,
)
from core.models.ledger import Account, Transfer
from core.money import format_amount
from core.policy import spend
from core.policy.facts import Money, Resource
from core.policy.service import permit, require_readable

# -- moving money ----------------------------------------------------------------------------
#
# One pass per movement: hold the key; replay what is stored under it (once the policy lets
# the caller still read the subject), or lock the accounts (the one read of each), gate the
# subject, decide once on facts gathered once (the tenant's day and today's totals with them),
# plan the posting (core.ledger.posting, pure), write it and what it adds to the limits'
# totals (core.policy.spend), and keep the answer under the key.


def create_transfer(
    session: Session, ctx: RequestContext, body: TransferCreate, idempotency_key: str | None
) -> TransferResult:
    """Move money between two accounts of the caller's company. Exactly once per key."""
    ctx.audit.attempt(
        "transfer.create",
        account_id=body.from_account_id,
        counterparty_account_id=body.to_account_id,
        amount=body.amount,
        currency=body.currency,
        idempotency_key=idempotency_key,
    )
    if body.from_account_id == body.to_account_id:
        raise InvalidRequest("a transfer needs two different accounts", code="same_account")
    movement = Movement(
        kind="transfer",
        subject_id=body.from_account_id,
        counterparty_id=body.to_account_id,
        amount=body.amount,
        currency=body.currency,
        description=body.description,
    )
    payload = body.model_dump()
    return _move_money(session, ctx, "transfer.create", movement, idempotency_key, payload)


def create_deposit(
    session: Session, ctx: RequestContext, body: DepositCreate, idempotency_key: str | None
) -> TransferResult:
    """Bank staff: credit a customer account from the bank's clearing account."""
    return _clearing_movement(session, ctx, "deposit", body, idempotency_key)


def create_withdrawal(
    session: Session, ctx: RequestContext, body: DepositCreate, idempotency_key: str | None
) -> TransferResult:
    """Bank staff: debit a customer account to the bank's clearing account."""
    return _clearing_movement(session, ctx, "withdrawal", body, idempotency_key)


def _clearing_movement(
    session: Session, ctx: RequestContext, kind: str, body: DepositCreate, key: str | None
) -> TransferResult:
    action = f"{kind}.create"
    ctx.audit.attempt(
        action,
        account_id=body.account_id,
        amount=body.amount,
        currency=body.currency,
        idempotency_key=key,
    )
    # The bank's clearing account in the money's currency, found by id only, so that both
    # accounts are read once, locked together. The caller's bank is the account's whenever
    # the caller may see the account at all (the gate answers 404 otherwise).
    clearing_id = repository.clearing_account_id(
        session, ctx.require_actor().bank_id, body.currency
    )
    movement = Movement(
        kind=kind,
        subject_id=body.account_id,
        counterparty_id=clearing_id,
        amount=body.amount,
        currency=body.currency,
        description=body.description,
    )
    return _move_money(session, ctx, action, movement, key, body.model_dump())


def _move_money(
    session: Session,
    ctx: RequestContext,
    action: str,
    movement: Movement,
    key: str | None,
    payload: dict[str, Any],
) -> TransferResult:
    """Run the movement once per key. The caller must be able to see the subject first: even
    a replay is only answered to someone who may still read it."""
    actor = ctx.require_actor()
    key = idempotency.validate_key(key)
    ticket = idempotency.hold(session, actor, key, movement.kind, payload)
    earlier = idempotency.stored(session, ticket)
    # Whoever may not see the subject learns nothing, not even from how long settling its
    # payments takes: the gate reads it unlocked, before anything of it is locked. Who may
    # read an account never changes with its balance, so the locked row needs no second ask.
    _gate(
        session, ctx, repository.account_snapshot(session, movement.subject_id), movement.subject_id
    )
    if earlier is not None:
        return _replayed(ctx, idempotency.replay(earlier, ticket))
    debited = movement.debited_id
    if debited is not None:
        # What payments hold on the debited account and is due is settled first (a lapsed
        # payment's hold released), in this transaction, locks in their order (debits.py).
        debits.settle_before_debit(session, ctx, debited, movement.account_ids)
    accounts = repository.lock_accounts(session, movement.account_ids)
    subject = accounts.get(movement.subject_id)
    if subject is None:
        raise account_not_found(movement.subject_id)
    counterparty = _counterparty(movement, subject, accounts)
    posting = _decide_and_plan(session, ctx, action, movement, subject, counterparty)
    transfer_id = repository.post_transfer(session, posting)
    if posting.spend is not None:
        spend.record(session, posting.spend)
    transfer = _posted(posting, transfer_id)
    body = transfer.model_dump(mode="json")
    idempotency.store(session, ticket, body=body, transfer_id=transfer.id, at=ctx.now())
    session.flush()
    if ctx.audit.activity:
        ctx.audit.activity.transfer_id = transfer.id
    amount = format_amount(movement.amount, movement.currency)
    ctx.audit.done(_money_moved(movement.kind, amount, subject, counterparty))
    return TransferResult(transfer)


def _gate(
    session: Session, ctx: RequestContext, account: Account | None, account_id: int
) -> Account:
    """The subject, if the caller may read it; 404 otherwise (no leak of its existence)."""
    if account is None:
        raise account_not_found(account_id)
    require_readable(
        session,
        ctx,
        "account.read",
        Resource.of_account(account),
        not_found=f"account {account_id} not found",
    )
    return account


def _replayed(ctx: RequestContext, body: dict[str, Any]) -> TransferResult:
    transfer = TransferPublic.model_validate(body)
    if ctx.audit.activity:
        ctx.audit.activity.replayed = True
        ctx.audit.activity.transfer_id = transfer.id
    return TransferResult(transfer, replayed=True)


def _counterparty(movement: Movement, subject: Account, accounts: dict[int, Account]) -> Account:
    counterparty = (
        None if movement.counterparty_id is None else accounts.get(movement.counterparty_id)
    )
    if movement.kind == "transfer":
        if counterparty is None:
            raise account_not_found(movement.counterparty_id or 0)
        return counterparty
    if subject.kind != "customer":
        raise account_not_found(subject.id or 0)
    if counterparty is None:
        raise InvalidRequest(
            f"the bank has no {movement.currency} clearing account; the account is in "
            f"{subject.currency}",
            code="currency_mismatch",
        )
    return counterparty


def _decide_and_plan(
    session: Session,
    ctx: RequestContext,
    action: str,
    movement: Movement,
    subject: Account,
    counterparty: Account,
) -> Posting:
    """Ask the policy once (limits included, under the locks), then the ledger's own rules.

    The caller can read the subject (the gate), so its currency may be named; whether the
    counterparty is within reach at all is the policy's answer, asked before anything is
    said about that account (not even its currency)."""
    currency = movement.currency
    if subject.currency != currency:
        raise InvalidRequest(
            f"account {subject.id} is in {subject.currency}, the amount in {currency}",
            code="currency_mismatch",
        )
    verdict = permit(
        session,
        ctx,
        action,
        Resource.of_account(subject),
        not_found=f"account {counterparty.id} not found",
        money=Money(amount=movement.amount, currency=currency, counterparty=counterparty),
        lock=True,
    )
    if counterparty.currency != currency:
        raise InvalidRequest(
            f"account {subject.id} is in {subject.currency}, account {counterparty.id} in "
            f"{counterparty.currency}: a transfer moves one currency",
            code="currency_mismatch",
        )
    return plan_transfer(
        movement,
        subject,
        counterparty,
        initiated_by=ctx.require_actor().user_id,
        grant_id=verdict.decision.grant_id,
        day=verdict.facts.day,
        now=ctx.now(),
    )


def _posted(posting: Posting, transfer_id: int) -> TransferPublic:
    return transfer_public(Transfer(id=transfer_id, **posting.transfer_row()))


def _money_moved(kind: str, amount: str, subject: Account, counterparty: Account) -> str:
    if kind == "deposit":
        return f"deposited {amount} into {subject.name}"
    if kind == "withdrawal":
        return f"withdrew {amount} from {subject.name}"
    return f"sent {amount} from {subject.name} to {counterparty.name}"
