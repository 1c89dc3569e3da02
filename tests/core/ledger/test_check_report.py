"""The ledger checker's report and the wording of its findings: pure, no database."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from core.ledger.check import CHECK_TABLE, CHECKS, MAX_EXAMPLES, CheckResult, LedgerReport, findings
from core.ledger.check.checks import start


def test_the_table_lists_the_checks_in_report_order_each_with_a_description():
    assert CHECKS == (
        "conservation",
        "balances",
        "holds",
        "overdraft",
        "transfers",
        "payments",
        "ibans",
        "spend",
        "limits",
    )
    for check in CHECK_TABLE:
        result = start(check.code)
        assert (result.name, result.title, result.unit) == (check.code, check.title, check.unit)
        assert check.title and "\n" not in check.title
        assert check.run.__name__ == check.code


def test_a_passing_report():
    conservation = start("conservation")
    conservation.examined, conservation.note = 1234, "currencies: EUR"
    report = LedgerReport([conservation, start("overdraft")])
    assert report.ok and report.failed == []
    assert report.render() == (
        "ok    conservation  entries sum to zero in every currency: 1,234 entries examined\n"
        "        currencies: EUR\n"
        "ok    overdraft     no customer balance, less its holds, below its overdraft limit: "
        "0 accounts examined\n"
        "\n"
        "ledger check passed: all 2 checks hold"
    )


def test_a_failing_report_shows_examples_then_how_many_more_then_warnings():
    limits = CheckResult("limits", "no limit passed", examined=3, unit="holder-days")
    for n in range(MAX_EXAMPLES + 2):
        limits.fail(f"problem {n}")
    limits.warn("a lowered limit")
    report = LedgerReport([start("balances"), limits])
    assert not report.ok and report.failed == ["limits"]
    lines = report.render().splitlines()
    assert (
        lines[1]
        == "FAIL  limits        no limit passed: 3 holder-days examined, 12 wrong, 1 warning"
    )
    assert lines[2:4] == ["        - problem 0", "        - problem 1"]
    assert lines[-4:] == [
        "        ... and 2 more",
        "        ! a lowered limit",
        "",
        "ledger check FAILED: 1 of 2 checks (limits)",
    ]


@given(failures=st.integers(0, 50), warnings=st.integers(0, 50))
def test_every_failure_and_warning_is_counted_and_at_most_a_few_are_shown(
    failures: int, warnings: int
) -> None:
    result = CheckResult("spend", "totals equal transfers")
    for n in range(failures):
        result.fail(f"f{n}")
    for n in range(warnings):
        result.warn(f"w{n}")
    assert (result.failures, result.warnings) == (failures, warnings)
    assert result.examples == [f"f{n}" for n in range(min(failures, MAX_EXAMPLES))]
    assert len(result.warning_examples) == min(warnings, MAX_EXAMPLES)
    assert result.ok == (failures == 0)
    rendered = LedgerReport([result]).render()
    assert ("more" in rendered) == (failures > MAX_EXAMPLES)
    assert ("warning" in rendered) == (warnings > 0)


def test_the_findings_say_what_is_wrong_in_money():
    assert findings.currency_not_conserved("EUR", 1) == "EUR: entries sum to 0.01 EUR, not zero"
    assert findings.balance_not_its_entries(7, "EUR", 123_45, 100_00) == (
        "account 7: balance 123.45 EUR, its entries sum to 100.00 EUR"
    )
    assert findings.entries_in_another_currency(7, "EUR", 2) == (
        "account 7 (EUR) has 2 entries in another currency"
    )
    assert findings.past_overdraft_limit(7, "USD", -45_00, 0, 0) == (
        "account 7: balance -45.00 USD is past its overdraft limit of 0.00 USD"
    )
    assert findings.past_overdraft_limit(7, "EUR", 100_00, 150_00, 0) == (
        "account 7: balance 100.00 EUR less 150.00 EUR held is -50.00 EUR, past its overdraft "
        "limit of 0.00 EUR"
    )
    assert findings.hold_not_its_payments(7, "EUR", 150_00, 100_00, 1) == (
        "account 7: held 150.00 EUR, its 1 payment awaiting approval or execution sum to 100.00 EUR"
    )
    assert findings.iban_invalid(7, "has no IBAN") == "account 7 has no IBAN"
    assert findings.amounts({}) == "none"
    assert findings.amounts({"USD": 5_00, "EUR": 325_00}) == "325.00 EUR, 5.00 USD"


def test_a_transfer_without_its_entries_lists_every_problem():
    row = SimpleNamespace(
        id=99,
        amount=5_00,
        currency="EUR",
        debit_account_id=2,
        credit_account_id=3,
        debit_currency="EUR",
        credit_currency="USD",
        entries=0,
        debits=0,
        credits=0,
    )
    assert findings.transfer_not_balanced(row) == (
        "transfer 99 (5.00 EUR from account 2 to 3): has 0 entries, not 2; needs one debit of "
        "-5.00 EUR on account 2, has 0; needs one credit of 5.00 EUR on account 3, has 0; "
        "its credit account is in USD"
    )


def _payment(**changes: object) -> SimpleNamespace:
    """A posted payment of 5.00 EUR from account 2 to 3 by person 4 under grant 5, and its
    transfer 9 as the payments check reads them, with `changes`."""
    row = {
        "id": 8,
        "status": "posted",
        "amount": 5_00,
        "currency": "EUR",
        "account_id": 2,
        "credit_account_id": 3,
        "initiated_by_id": 4,
        "grant_id": 5,
        "transfer_id": 9,
        "transfer_found": 9,
        "transfer_kind": "payment",
        "transfer_amount": 5_00,
        "transfer_currency": "EUR",
        "transfer_debit": 2,
        "transfer_credit": 3,
        "transfer_initiated_by": 4,
        "transfer_grant": 5,
    }
    return SimpleNamespace(**{**row, **changes})


def test_a_payment_without_exactly_its_transfer_says_what_differs():
    what = "payment 8 (posted, 5.00 EUR from account 2 to 3)"
    assert findings.payment_not_its_transfer(_payment(transfer_found=None)) == (
        f"{what}: has no transfer (transfer 9 does not exist)"
    )
    assert findings.payment_not_its_transfer(
        _payment(transfer_kind="transfer", transfer_amount=6_00, transfer_credit=7)
    ) == (
        f"{what}: its transfer 9 is of kind transfer, not payment; moves 6.00 EUR; credits "
        "account 7"
    )
    assert findings.payment_not_its_transfer(_payment(transfer_grant=None)) == (
        f"{what}: its transfer 9 is under no grant, the payment under grant 5"
    )
    assert findings.payment_not_its_transfer(_payment(status="rejected")) == (
        "payment 8 (rejected, 5.00 EUR from account 2 to 3): moved no money, yet names transfer 9"
    )
    orphan = SimpleNamespace(
        id=9, amount=5_00, currency="EUR", debit_account_id=2, credit_account_id=3
    )
    assert findings.transfer_without_payment(orphan) == (
        "transfer 9 of kind payment (5.00 EUR from account 2 to 3) belongs to no payment"
    )
