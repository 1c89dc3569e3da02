"""Planning a posting (core.ledger.posting): pure, no database."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import Conflict, InvalidRequest
from core.ledger.posting import Movement, balance_floor, plan_transfer
from core.models.ledger import Account
from core.money import MAX_AMOUNT
from core.policy.spend import Spend

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 25)


def _account(id: int, **fields: Any) -> Account:
    base: dict[str, Any] = {
        "bank_id": 1,
        "tenant_id": 3,
        "name": f"account {id}",
        "currency": "EUR",
        "kind": "customer",
        "status": "active",
        "balance": 0,
        "overdraft_limit": 0,
    }
    return Account(id=id, **{**base, **fields})


def _clearing(id: int = 9, **fields: Any) -> Account:
    return _account(id, tenant_id=None, kind="clearing", **fields)


def _movement(kind: str = "transfer", amount: int = 100, counterparty: int = 2) -> Movement:
    return Movement(kind, 1, counterparty, amount, "EUR", "rent")


def _plan(movement: Movement, subject: Account, counterparty: Account, **given: Any) -> Any:
    options: dict[str, Any] = {"initiated_by": 7, "grant_id": 21, "day": DAY, "now": NOW}
    return plan_transfer(movement, subject, counterparty, **{**options, **given})


@pytest.mark.parametrize(
    ("account", "floor"),
    [
        (_account(1), 0),
        (_account(1, overdraft_limit=500), -500),
        (_clearing(), None),
    ],
)
def test_the_floor_is_minus_the_overdraft_limit_and_clearing_has_none(
    account: Account, floor: int | None
) -> None:
    assert balance_floor(account) == floor


@pytest.mark.parametrize(
    ("kind", "subject", "counterparty", "debit", "after"),
    [
        # A transfer and a withdrawal debit the subject; a deposit credits it.
        ("transfer", _account(1, balance=1_000), _account(2, balance=5), 1, (900, 105)),
        ("withdrawal", _account(1, balance=1_000), _clearing(balance=-1_000), 1, (900, -900)),
        ("deposit", _account(1, balance=0), _clearing(balance=0), 9, (-100, 100)),
    ],
)
def test_each_kind_debits_and_credits_the_right_account(
    kind: str, subject: Account, counterparty: Account, debit: int, after: tuple[int, int]
) -> None:
    posting = _plan(_movement(kind, counterparty=counterparty.id or 0), subject, counterparty)
    assert posting.debit_id == debit
    assert (posting.debit_after, posting.credit_after) == after
    row = posting.transfer_row()
    assert row["kind"] == kind and row["debit_account_id"] == debit
    assert row["tenant_id"] == 3 and row["bank_id"] == 1 and row["created_at"] == NOW


@pytest.mark.parametrize(
    ("subject", "counterparty", "error", "code", "message"),
    [
        (_account(1, status="frozen"), _account(2), Conflict, "account_frozen", "account 1 is frozen"),
        (_account(1), _account(2, status="closed"), Conflict, "account_closed", "account 2 is closed"),
        (_account(1, balance=99), _account(2), InvalidRequest, "insufficient_funds",
         "account 1 can send at most 0.99 EUR"),
        (_account(1, balance=-50, overdraft_limit=100), _account(2), InvalidRequest,
         "insufficient_funds", "account 1 can send at most 0.50 EUR"),
        (_account(1, balance=-200, overdraft_limit=100), _account(2), InvalidRequest,
         "insufficient_funds", "account 1 can send at most 0.00 EUR"),
    ],
)  # fmt: skip
def test_the_ledgers_own_rules_refuse(
    subject: Account, counterparty: Account, error: type[Exception], code: str, message: str
) -> None:
    with pytest.raises(error) as refused:
        _plan(_movement(), subject, counterparty)
    assert refused.value.code == code  # type: ignore[attr-defined]
    assert refused.value.detail == message  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("grant_id", "day", "spend"),
    [
        (21, DAY, Spend(grant_id=21, user_id=7, currency="EUR", day=DAY, amount=100)),
        (None, DAY, None),  # no grant (not through a grant): nothing to count
        (21, None, None),  # not a tenant's account: no tenant-local day
    ],
)
def test_a_movement_through_a_grant_adds_to_its_totals(
    grant_id: int | None, day: dt.date | None, spend: Spend | None
) -> None:
    posting = _plan(_movement(), _account(1, balance=100), _account(2), grant_id=grant_id, day=day)
    assert posting.spend == spend
    assert posting.grant_id == grant_id


@given(
    balance=st.integers(-MAX_AMOUNT, MAX_AMOUNT),
    overdraft=st.integers(0, MAX_AMOUNT),
    other=st.integers(-MAX_AMOUNT, MAX_AMOUNT),
    amount=st.integers(1, MAX_AMOUNT),
)
def test_a_plan_conserves_money_and_never_goes_below_the_floor(
    balance: int, overdraft: int, other: int, amount: int
) -> None:
    subject = _account(1, balance=balance, overdraft_limit=overdraft)
    counterparty = _account(2, balance=other)
    try:
        posting = _plan(_movement(amount=amount), subject, counterparty)
    except InvalidRequest as refused:
        assert refused.code == "insufficient_funds"
        assert balance - amount < -overdraft
        return
    assert posting.debit_after >= -overdraft
    assert posting.debit_after + posting.credit_after == balance + other
    assert posting.credit_after - other == amount
