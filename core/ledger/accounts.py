"""Accounts: open, change and read them; their statements; the transfers one may read.

The public shapes of accounts and transfers are here too (movements answer with them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import RequestContext
from core.errors import Conflict, NotFound
from core.ledger import repository
from core.ledger.identifiers import account_iban, random_account_number
from core.ledger.posting import available, overdraft_floor
from core.ledger.schemas import (
    AccountCreate,
    AccountPublic,
    AccountUpdate,
    EntryPublic,
    TransferPublic,
)
from core.models.iam import Bank, Tenant
from core.models.ledger import Account, Transfer
from core.money import format_amount
from core.pagination import MAX_BIG_KEY, Page, PageRequest, paginate
from core.policy.facts import Resource
from core.policy.filters import accounts_within_reach, readable_accounts
from core.policy.service import authorize, require_readable


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
        held=account.held,
        available=available(account),
        iban=account.iban,
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


def account_not_found(account_id: int) -> NotFound:
    return NotFound(f"account {account_id} not found", code="not_found")


# -- reading ---------------------------------------------------------------------------------


def load_readable_account(
    session: Session, ctx: RequestContext, account_id: int, action: str = "account.read"
) -> Account:
    """The account, if the policy lets the caller `action` it; 404 otherwise. A person's
    read of one account or its statement is logged, allowed or not: compliance sees who read
    what, and a proposed policy is replayed against those reads too."""
    reach = accounts_within_reach(ctx.require_actor())
    account = repository.account_snapshot(session, account_id, within=reach)
    if account is None:
        raise account_not_found(account_id)
    require_readable(
        session,
        ctx,
        action,
        Resource.of_account(account),
        not_found=f"account {account_id} not found",
        log_allowed=True,
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
    return entries_page(session, account_id, page)


def entries_page(
    session: Session,
    account_id: int,
    page: PageRequest,
    *,
    oldest_first: bool = False,
    through: int | None = None,
) -> Page[EntryPublic]:
    """One page of an account's statement (newest first, or oldest first for an export),
    up to the entry `through` if given. The caller has checked statement.read."""
    return paginate(
        session,
        repository.entries(account_id, through=through),
        repository.ENTRY_KEY,
        page,
        shape=lambda row: entry_public(row, account_id),
        newest_first=not oldest_first,
    )


def entry_public(row: Row[Any], account_id: int) -> EntryPublic:
    """A statement row (core.ledger.repository.entries) as `account_id`'s reader sees it: the
    counterparty's account id only if it is the same company's (a company never learns
    another's account ids, nor the bank's clearing accounts; the bank's accounts see all)."""
    debited = row.debit_account_id == account_id
    own, other = (
        (row.debit_tenant_id, row.credit_tenant_id)
        if debited
        else (row.credit_tenant_id, row.debit_tenant_id)
    )
    counterparty = row.credit_account_id if debited else row.debit_account_id
    entry = EntryPublic(
        id=row.id,
        transfer_id=row.transfer_id,
        kind=row.kind,
        amount=row.amount,
        currency=row.currency,
        balance_after=row.balance_after,
        counterparty_account_id=counterparty if own is None or own == other else None,
        description=row.description,
        created_at=row.created_at,
    )
    # A statement's lines name the counterparty from the company's own records (its
    # beneficiaries, its accounts): they look it up by the id it is not shown.
    entry._counterparty = counterparty
    return entry


def transfer_seen_by(session: Session, ctx: RequestContext) -> Callable[[Transfer], TransferPublic]:
    """How the caller sees transfers: bank staff whole; a company, of the other side only
    what is its own. A payment to another company (or a deposit from the bank's clearing
    account) names neither that account nor who sent it: ids of another company are never
    shown, not even that they exist."""
    tenant_id = ctx.require_actor().tenant_id
    if tenant_id is None:
        return transfer_public
    own = repository.account_ids_of(session, tenant_id)

    def seen(transfer: Transfer) -> TransferPublic:
        public = transfer_public(transfer)
        return public.model_copy(
            update={
                "from_account_id": public.from_account_id
                if public.from_account_id in own
                else None,
                "to_account_id": public.to_account_id if public.to_account_id in own else None,
                "initiated_by": public.initiated_by if public.from_account_id in own else None,
            }
        )

    return seen


def list_transfers(
    session: Session, ctx: RequestContext, *, cursor: str | None = None, limit: int | None = None
) -> Page[TransferPublic]:
    page = PageRequest.of(cursor, limit)
    transfers = repository.transfers(readable_accounts(session, ctx))
    shape = transfer_seen_by(session, ctx)
    return paginate(session, transfers, col(Transfer.id), page, shape=shape, newest_first=True)


def get_transfer(session: Session, ctx: RequestContext, transfer_id: int) -> TransferPublic:
    reach = accounts_within_reach(ctx.require_actor())
    transfer = repository.transfer(session, transfer_id, within=reach)
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
            return transfer_seen_by(session, ctx)(transfer)
        except NotFound:
            continue
    raise missing


# -- accounts --------------------------------------------------------------------------------


def ensure_clearing_account(session: Session, bank_id: int, currency: str) -> None:
    """Open the bank's external clearing account for a currency if it has none: where
    deposits come from and withdrawals go, so that the ledger balances per currency."""
    if repository.clearing_account_id(session, bank_id, currency) is None:
        clearing = Account(
            bank_id=bank_id,
            tenant_id=None,
            name=f"External clearing {currency}",
            currency=currency,
            kind="clearing",
        )
        session.add(clearing)
        session.flush()


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
    bank = session.get(Bank, tenant.bank_id)
    assert bank is not None
    account.iban = _unused_iban(session, bank)
    session.flush()
    if ctx.audit.activity:
        ctx.audit.activity.account_id = account.id
    ctx.audit.done(f"opened the {body.currency} account {body.name} for {tenant.name}")
    return account_public(account)


def _unused_iban(session: Session, bank: Bank) -> str:
    """A new IBAN of the bank no account has (random national number: see
    core.ledger.identifiers)."""
    for _ in range(10):
        iban = account_iban(bank.country, bank.bank_code, random_account_number(bank.country))
        if session.scalar(select(col(Account.id)).where(col(Account.iban) == iban)) is None:
            return iban
    raise AssertionError("ten random account numbers in a row were taken")


def update_account(
    session: Session, ctx: RequestContext, account_id: int, body: AccountUpdate
) -> AccountPublic:
    """Rename, freeze, unfreeze, close, or change the overdraft limit."""
    ctx.audit.attempt("account.manage", account_id=account_id)
    reach = accounts_within_reach(ctx.require_actor())
    account = repository.lock_account_for_change(session, account_id, within=reach)
    if account is None:
        raise account_not_found(account_id)
    resource = Resource.of_account(account)
    require_readable(
        session, ctx, "account.read", resource, not_found=f"account {account_id} not found"
    )
    authorize(session, ctx, "account.manage", resource)
    if account.kind != "customer":
        raise Conflict("clearing accounts are managed by the bank's back office")
    if body.status == "closed" and account.held != 0:
        raise Conflict(
            f"{format_amount(account.held, account.currency)} is held for payments awaiting "
            "approval or their execution date; they must end before the account can be closed",
            code="account_not_empty",
        )
    if body.status == "closed" and account.balance != 0:
        raise Conflict(
            f"the balance is {format_amount(account.balance, account.currency)}; "
            "only an empty account can be closed",
            code="account_not_empty",
        )
    if account.status == "closed" and body.status is not None and body.status != "closed":
        raise Conflict("a closed account stays closed", code="account_closed")
    limit = body.overdraft_limit
    if limit is not None and account.balance - account.held < overdraft_floor(limit):
        raise Conflict(
            "the balance, less what pending payments hold, is already below that overdraft "
            "limit; it cannot be lowered that far"
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
