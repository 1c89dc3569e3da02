"""The overdraft floor (core.ledger.posting), which the posting path, the account view and the
ledger checker share: pure arithmetic, no database."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import column

from core.ledger.posting import available, balance_floor, may_debit, overdraft_floor
from core.money import MAX_AMOUNT


@dataclass
class AccountRow:
    kind: str
    balance: int
    overdraft_limit: int
    held: int = 0


amounts = st.integers(min_value=0, max_value=MAX_AMOUNT)
balances = st.integers(min_value=-MAX_AMOUNT, max_value=MAX_AMOUNT)


def test_a_customer_account_may_go_down_to_minus_its_limit():
    account = AccountRow("customer", balance=50_00, overdraft_limit=100_00)
    assert balance_floor(account) == -100_00
    assert available(account) == 150_00
    assert may_debit(account, 150_00)
    assert not may_debit(account, 150_01)


def test_a_clearing_account_has_no_floor():
    account = AccountRow("clearing", balance=-(10**12), overdraft_limit=0)
    assert balance_floor(account) is None
    assert available(account) == 0
    assert may_debit(account, MAX_AMOUNT)


def test_the_floor_reads_the_same_in_sql():
    assert str(overdraft_floor(column("overdraft_limit"))) == "-overdraft_limit"


@given(balance=balances, limit=amounts, amount=amounts)
def test_a_debit_is_allowed_exactly_when_it_leaves_the_balance_at_or_above_the_floor(
    balance: int, limit: int, amount: int
) -> None:
    account = AccountRow("customer", balance, limit)
    assert may_debit(account, amount) == (balance - amount >= -limit)
    # What the account view shows as available is exactly what may still be sent.
    assert may_debit(account, amount) == (amount <= available(account))
    # A debit that is allowed lands on or above the floor, never below.
    floor = balance_floor(account)
    assert floor is not None
    if may_debit(account, amount):
        assert balance - amount >= floor


@given(balance=balances, limit=amounts, amount=amounts)
def test_clearing_accounts_may_always_be_debited(balance: int, limit: int, amount: int) -> None:
    assert may_debit(AccountRow("clearing", balance, limit), amount)
