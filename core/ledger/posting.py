"""Planning a posting, and how low a balance may go. Pure functions, no database.

The overdraft floor lives here, in one place: a customer account may go down to minus its
overdraft limit and no further; a clearing account carries the bank's side of every deposit
and withdrawal and has no floor. The posting plan (may this debit be made?), the account view
(what can still be sent?), the limit change (may the limit be lowered this far?) and
`mandate ledger check` all ask it. The database holds the same rule as its last line of
defence (ck_accounts_within_overdraft in core.models.ledger).

plan_transfer goes from the locked accounts and the policy's decision to what is written: the
ledger's own rules (frozen and closed accounts, the floor), the two balances after, and what
the movement adds to its grant's and its person's running totals (written by
core.policy.spend, the limits' side)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, overload

from core.errors import Conflict, InvalidRequest
from core.models.ledger import Account
from core.money import format_amount
from core.policy.spend import Spend

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement


class Floored(Protocol):
    """What the floor is computed from: an account row, or anything shaped like one."""

    @property
    def kind(self) -> str: ...

    @property
    def balance(self) -> int: ...

    @property
    def overdraft_limit(self) -> int: ...

    @property
    def held(self) -> int: ...


@overload
def overdraft_floor(overdraft_limit: int) -> int: ...


@overload
def overdraft_floor(overdraft_limit: ColumnElement[Any]) -> ColumnElement[Any]: ...


def overdraft_floor(overdraft_limit: Any) -> Any:
    """The lowest balance a customer account with this overdraft limit may reach. The same
    expression serves a Python value and a SQL column (the checker filters in SQL)."""
    return -overdraft_limit


def balance_floor(account: Floored) -> int | None:
    """The lowest balance `account` may reach; None for a clearing account (no floor)."""
    if account.kind != "customer":
        return None
    return overdraft_floor(account.overdraft_limit)


def may_debit(account: Floored, amount: int) -> bool:
    """Whether `amount` may leave `account` without taking it, holds counted, below its
    floor."""
    floor = balance_floor(account)
    return floor is None or account.balance - account.held - amount >= floor


def available(account: Floored) -> int:
    """What can still be sent: the distance from the balance, less what payments awaiting
    approval hold, down to the floor (0 for a clearing account, which shows no such figure).
    available = balance + overdraft limit - holds."""
    floor = balance_floor(account)
    return 0 if floor is None else account.balance - account.held - floor


@dataclass(frozen=True)
class Movement:
    """Money asked to move: a transfer from the subject to the counterparty, a deposit into the
    subject from the bank's clearing account, or a withdrawal from the subject to it."""

    kind: str
    subject_id: int
    counterparty_id: int | None
    amount: int
    currency: str
    description: str

    @property
    def account_ids(self) -> list[int]:
        """The accounts to lock: both, in id order (the repository sorts them)."""
        return [self.subject_id] + ([] if self.counterparty_id is None else [self.counterparty_id])

    @property
    def debited_id(self) -> int | None:
        """The customer account the movement takes money from: the subject of a transfer or a
        withdrawal; None for a deposit (it debits the bank's clearing account, on which
        nothing is ever held)."""
        return None if self.kind == "deposit" else self.subject_id


@dataclass(frozen=True)
class Posting:
    """What a movement writes: the transfer, the two balances after it, and the spend."""

    kind: str
    bank_id: int
    tenant_id: int | None
    debit_id: int
    credit_id: int
    debit_after: int
    credit_after: int
    amount: int
    currency: str
    description: str
    initiated_by_id: int
    grant_id: int | None
    created_at: dt.datetime
    spend: Spend | None

    def transfer_row(self) -> dict[str, Any]:
        """The transfers row."""
        return {
            "bank_id": self.bank_id,
            "tenant_id": self.tenant_id,
            "kind": self.kind,
            "debit_account_id": self.debit_id,
            "credit_account_id": self.credit_id,
            "amount": self.amount,
            "currency": self.currency,
            "description": self.description,
            "initiated_by_id": self.initiated_by_id,
            "grant_id": self.grant_id,
            "created_at": self.created_at,
        }


def plan_transfer(
    movement: Movement,
    subject: Account,
    counterparty: Account,
    *,
    initiated_by: int,
    grant_id: int | None,
    day: dt.date | None,
    now: dt.datetime,
) -> Posting:
    """The posting of an allowed movement, or the ledger's refusal: a frozen or closed
    account (409), a debit below its floor (422 insufficient_funds). `grant_id` is the grant
    the policy allowed it under; `day` the tenant-local day it counts on (None off a tenant's
    account): with both, the movement adds to the running totals."""
    deposit = movement.kind == "deposit"
    debit, credit = (counterparty, subject) if deposit else (subject, counterparty)
    for account in (debit, credit):
        if account.status == "frozen":
            raise Conflict(f"account {account.id} is frozen", code="account_frozen")
        if account.status == "closed":
            raise Conflict(f"account {account.id} is closed", code="account_closed")
    amount = movement.amount
    if not may_debit(debit, amount):
        raise InvalidRequest(
            f"account {debit.id} can send at most "
            f"{format_amount(max(available(debit), 0), movement.currency)}",
            code="insufficient_funds",
        )
    assert debit.id is not None and credit.id is not None
    spend = None
    if grant_id is not None and day is not None:
        spend = Spend(grant_id, initiated_by, movement.currency, day, amount)
    return Posting(
        kind=movement.kind,
        bank_id=subject.bank_id,
        tenant_id=subject.tenant_id,
        debit_id=debit.id,
        credit_id=credit.id,
        debit_after=debit.balance - amount,
        credit_after=credit.balance + amount,
        amount=amount,
        currency=movement.currency,
        description=movement.description,
        initiated_by_id=initiated_by,
        grant_id=grant_id,
        created_at=now,
        spend=spend,
    )
