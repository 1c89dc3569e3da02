"""Ledger operations: open and change accounts, move money, read statements.

Every money movement is one double-entry transfer: a debit entry and a credit entry of the
same amount, posted with the balances in the same transaction as its idempotency key and
its policy decision, under row locks taken in account-id order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import RequestContext
from core.errors import Conflict, InvalidRequest, NotFound
from core.ledger import idempotency, repository
from core.ledger.posting import Movement, Posting, available, overdraft_floor, plan_transfer
from core.ledger.schemas import (
    AccountCreate,
    AccountPublic,
    AccountUpdate,
    DepositCreate,
    EntryPublic,
    TransferCreate,
    TransferPublic,
    TransferResult,
)
from core.models.iam import Tenant
from core.models.ledger import Account, Transfer
from core.money import format_amount
from core.pagination import MAX_BIG_KEY, Page, PageRequest, paginate
from core.policy import spend
from core.policy.facts import Money, Resource
from core.policy.filters import readable_accounts
from core.policy.service import authorize, permit, require_readable


def account_public(account: Account) -> AccountPublic:
    assert account.id is not None
    return AccountPublic(
        id=account.id,
        tenant_id=account.tenant_id,
        name=account.name,
        currency=account.currency,
        kind=account.kind,
        status=account.status,
        overdraft_limit=account.overdraft_limit,
        balance=account.balance,
        available=available(account),
        created_at=account.created_at,
    )


def transfer_public(transfer: Transfer) -> TransferPublic:
    assert transfer.id is not None
    return TransferPublic(
        id=transfer.id,
        kind=transfer.kind,
        from_account_id=transfer.debit_account_id,
        to_account_id=transfer.credit_account_id,
        amount=transfer.amount,
        currency=transfer.currency,
        description=transfer.description,
        initiated_by=transfer.initiated_by_id,
        created_at=transfer.created_at,
    )


def _not_found(account_id: int) -> NotFound:
    return NotFound(f"account {account_id} not found", code="not_found")


# -- reading ---------------------------------------------------------------------------------


def load_readable_account(
    session: Session, ctx: RequestContext, account_id: int, action: str = "account.read"
) -> Account:
    """The account, if the policy lets the caller `action` it; 404 otherwise."""
    account = repository.account_snapshot(session, account_id)
    if account is None:
        raise _not_found(account_id)
    require_readable(
        session,
        ctx,
        action,
        Resource.of_account(account),
        not_found=f"account {account_id} not found",
    )
    return account


def get_account(session: Session, ctx: RequestContext, account_id: int) -> AccountPublic:
    return account_public(load_readable_account(session, ctx, account_id))


def list_accounts(
    session: Session,
    ctx: RequestContext,
    *,
    cursor: str | None = None,
    limit: int | None = None,
    tenant_id: int | None = None,
) -> Page[AccountPublic]:
    """The accounts the caller may read, filtered in the query."""
    page = PageRequest.of(cursor, limit)
    where = readable_accounts(session, ctx)
    if tenant_id is not None:
        where = where & (col(Account.tenant_id) == tenant_id)
    return paginate(
        session, repository.accounts(where), col(Account.id), page, shape=account_public
    )


def statement(
    session: Session,
    ctx: RequestContext,
    account_id: int,
    *,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[EntryPublic]:
    """An account's entries, newest first, each with the balance after it."""
    page = PageRequest.of(cursor, limit, max_key=MAX_BIG_KEY)
    load_readable_account(session, ctx, account_id, "statement.read")

    def entry_public(row: Row[Any]) -> EntryPublic:
        return EntryPublic(
            id=row.id,
            transfer_id=row.transfer_id,
            kind=row.kind,
            amount=row.amount,
            currency=row.currency,
            balance_after=row.balance_after,
            counterparty_account_id=(
                row.credit_account_id
                if row.debit_account_id == account_id
                else row.debit_account_id
            ),
            description=row.description,
            created_at=row.created_at,
        )

    entries = repository.entries(account_id)
    return paginate(
        session, entries, repository.ENTRY_KEY, page, shape=entry_public, newest_first=True
    )


def list_transfers(
    session: Session, ctx: RequestContext, *, cursor: str | None = None, limit: int | None = None
) -> Page[TransferPublic]:
    page = PageRequest.of(cursor, limit)
    transfers = repository.transfers(readable_accounts(session, ctx))
    return paginate(
        session, transfers, col(Transfer.id), page, shape=transfer_public, newest_first=True
    )


def get_transfer(session: Session, ctx: RequestContext, transfer_id: int) -> TransferPublic:
    transfer = session.get(Transfer, transfer_id)
    missing = NotFound(f"transfer {transfer_id} not found")
    if transfer is None:
        raise missing
    for account_id in (transfer.debit_account_id, transfer.credit_account_id):
        account = session.get(Account, account_id)
        if account is None:
            continue
        try:
            require_readable(
                session, ctx, "account.read", Resource.of_account(account), not_found=""
            )
            return transfer_public(transfer)
        except NotFound:
            continue
    raise missing


# -- accounts --------------------------------------------------------------------------------


def ensure_clearing_account(session: Session, bank_id: int, currency: str) -> Account:
    """The bank's external clearing account for a currency: where deposits come from and
    withdrawals go, so that the ledger balances per currency."""
    clearing = session.scalar(
        select(Account).where(
            col(Account.bank_id) == bank_id,
            col(Account.kind) == "clearing",
            col(Account.currency) == currency,
        )
    )
    if clearing is None:
        clearing = Account(
            bank_id=bank_id,
            tenant_id=None,
            name=f"External clearing {currency}",
            currency=currency,
            kind="clearing",
        )
        session.add(clearing)
        session.flush()
    return clearing


def open_account(session: Session, ctx: RequestContext, body: AccountCreate) -> AccountPublic:
    actor = ctx.require_actor()
    ctx.audit.attempt("account.manage", target=f"new account for tenant {body.tenant_id}")
    tenant = session.get(Tenant, body.tenant_id)
    if tenant is None or tenant.bank_id != actor.bank_id:
        raise NotFound(f"tenant {body.tenant_id} not found")
    authorize(
        session,
        ctx,
        "account.manage",
        Resource.of_tenant(tenant.id, tenant.bank_id),  # type: ignore[arg-type]
        not_found=f"tenant {body.tenant_id} not found",
    )
    ensure_clearing_account(session, tenant.bank_id, body.currency)
    account = Account(
        bank_id=tenant.bank_id,
        tenant_id=tenant.id,
        name=body.name,
        currency=body.currency,
        overdraft_limit=body.overdraft_limit,
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    session.add(account)
    session.flush()
    if ctx.audit.activity:
        ctx.audit.activity.account_id = account.id
    ctx.audit.done(f"opened the {body.currency} account {body.name} for {tenant.name}")
    return account_public(account)


def update_account(
    session: Session, ctx: RequestContext, account_id: int, body: AccountUpdate
) -> AccountPublic:
    """Rename, freeze, unfreeze, close, or change the overdraft limit."""
    ctx.audit.attempt("account.manage", account_id=account_id)
    account = repository.lock_account_for_change(session, account_id)
    if account is None:
        raise _not_found(account_id)
    resource = Resource.of_account(account)
    require_readable(
        session, ctx, "account.read", resource, not_found=f"account {account_id} not found"
    )
    authorize(session, ctx, "account.manage", resource)
    if account.kind != "customer":
        raise Conflict("clearing accounts are managed by the bank's back office")
    if body.status == "closed" and account.balance != 0:
        raise Conflict(
            f"the balance is {format_amount(account.balance, account.currency)}; "
            "only an empty account can be closed",
            code="account_not_empty",
        )
    if account.status == "closed" and body.status is not None and body.status != "closed":
        raise Conflict("a closed account stays closed", code="account_closed")
    limit = body.overdraft_limit
    if limit is not None and account.balance < overdraft_floor(limit):
        raise Conflict(
            "the balance is already below that overdraft limit; it cannot be lowered that far"
        )
    changed = body.model_dump(exclude_none=True)
    ctx.audit.done(f"changed account {account.name}: {_words(changed, account.currency)}")
    for name, value in changed.items():
        setattr(account, name, value)
    account.updated_at = ctx.now()
    session.flush()
    return account_public(account)


def _words(changed: dict[str, Any], currency: str) -> str:
    parts = []
    for name, value in changed.items():
        shown = format_amount(value, currency) if name == "overdraft_limit" else value
        parts.append(f"{name.replace('_', ' ')} {shown}")
    return ", ".join(parts) or "nothing"


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
    if earlier is not None:
        # Nothing moves: the subject is read (unlocked) for the gate, then the answer replays.
        subject_now = repository.account_snapshot(session, movement.subject_id)
        _gate(session, ctx, subject_now, movement.subject_id)
        return _replayed(ctx, idempotency.replay(earlier, ticket))
    accounts = repository.lock_accounts(session, movement.account_ids)
    subject = _gate(session, ctx, accounts.get(movement.subject_id), movement.subject_id)
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
        raise _not_found(account_id)
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
            raise _not_found(movement.counterparty_id or 0)
        return counterparty
    if subject.kind != "customer":
        raise _not_found(subject.id or 0)
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
