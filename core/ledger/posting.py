"""How low a balance may go: the overdraft floor, in one place.

A customer account may go down to minus its overdraft limit and no further; a clearing account
carries the bank's side of every deposit and withdrawal and has no floor. The posting path
(may a debit be made?), the account view (what can still be sent?), the limit change (may the
limit be lowered this far?) and `mandate ledger check` all ask this. The database holds the
same rule as its last line of defence (ck_accounts_within_overdraft in core.models.ledger).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, overload

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
    """Whether `amount` may leave `account` without taking it below its floor."""
    floor = balance_floor(account)
    return floor is None or account.balance - amount >= floor


def available(account: Floored) -> int:
    """What can still be sent: the distance from the balance down to the floor (0 for a
    clearing account, which shows no such figure)."""
    floor = balance_floor(account)
    return 0 if floor is None else account.balance - floor
