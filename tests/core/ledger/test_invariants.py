"""Random deposits, withdrawals, transfers and failures: after every step the ledger balances
per currency, every balance equals the sum of its entries, no balance is past its overdraft
limit, and a refused operation changed nothing."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from core.context import RequestContext
from core.errors import MandateError
from core.ledger import service as ledger
from core.ledger.schemas import AccountUpdate, DepositCreate, TransferCreate
from core.models.ledger import Account
from tests.factories import new_key, staff_context
from tests.ledger_checks import assert_ledger_consistent, snapshot

AMOUNTS = st.one_of(
    st.integers(min_value=1, max_value=5_000_00),
    st.integers(min_value=1, max_value=2_000_000_00),  # often more than there is
)


def test_ledger_invariants_hold_under_random_operations(db, world, clock):
    names = list(world.accounts)
    staff = staff_context(db, "manager", clock)
    payer = staff_context(db, "acme-payer", clock)

    outcomes: Counter[str] = Counter()

    def as_(who: RequestContext) -> RequestContext:
        # A new request: its own audit trail and its own "now".
        return RequestContext(actor=who.actor, clock=clock)

    class LedgerMachine(RuleBasedStateMachine):
        def _attempt(self, operation) -> bool:  # type: ignore[no-untyped-def]
            with db.unit_of_work(write=False) as session:
                before = snapshot(session)
            try:
                db.run(operation)
            except MandateError as error:
                outcomes[error.code] += 1
                with db.unit_of_work(write=False) as session:
                    assert snapshot(session) == before, "a refused operation changed the ledger"
                return False
            outcomes["succeeded"] += 1
            return True

        @rule(name=st.sampled_from(names), amount=AMOUNTS, currency=st.sampled_from(["EUR", "USD"]))
        def deposit(self, name: str, amount: int, currency: str) -> None:
            body = DepositCreate(
                account_id=world.account_id(name), amount=amount, currency=currency
            )
            self._attempt(lambda s: ledger.create_deposit(s, as_(staff), body, new_key()))

        @rule(name=st.sampled_from(names), amount=AMOUNTS)
        def withdraw(self, name: str, amount: int) -> None:
            currency = world.accounts[name].currency
            body = DepositCreate(
                account_id=world.account_id(name), amount=amount, currency=currency
            )
            self._attempt(lambda s: ledger.create_withdrawal(s, as_(staff), body, new_key()))

        @rule(
            source=st.sampled_from(names),
            to=st.sampled_from(names),
            amount=AMOUNTS,
            currency=st.sampled_from(["EUR", "USD"]),
        )
        def transfer(self, source: str, to: str, amount: int, currency: str) -> None:
            if source == to:
                return
            body = TransferCreate(
                from_account_id=world.account_id(source),
                to_account_id=world.account_id(to),
                amount=amount,
                currency=currency,
            )
            self._attempt(lambda s: ledger.create_transfer(s, as_(payer), body, new_key()))

        @rule(name=st.sampled_from(names), status=st.sampled_from(["open", "frozen"]))
        def freeze_or_unfreeze(self, name: str, status: str) -> None:
            changed = self._attempt(
                lambda s: ledger.update_account(
                    s, as_(staff), world.account_id(name), AccountUpdate(status=status)
                )
            )
            assert changed
            with db.unit_of_work(write=False) as session:
                assert session.get(Account, world.account_id(name)).status == status

        @rule(name=st.sampled_from(names), limit=st.integers(min_value=0, max_value=50_000_00))
        def change_overdraft(self, name: str, limit: int) -> None:
            if self._attempt(
                lambda s: ledger.update_account(
                    s, as_(staff), world.account_id(name), AccountUpdate(overdraft_limit=limit)
                )
            ):
                with db.unit_of_work(write=False) as session:
                    assert session.get(Account, world.account_id(name)).overdraft_limit == limit

        @invariant()
        def ledger_is_consistent(self) -> None:
            with db.unit_of_work(write=False) as session:
                assert_ledger_consistent(session)

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    # The machine must have exercised both sides: money that moved and money that could not.
    assert outcomes["succeeded"] > 20, outcomes
    refusals = set(outcomes) & {
        "insufficient_funds",
        "currency_mismatch",
        "account_frozen",
        "not_found",
    }
    assert len(refusals) >= 3, outcomes


@pytest.mark.parametrize("amount", [0, -1, 10**15 + 1])
def test_out_of_range_amounts_never_reach_the_ledger(amount):
    with pytest.raises(ValueError):
        TransferCreate(from_account_id=1, to_account_id=2, amount=amount, currency="EUR")
