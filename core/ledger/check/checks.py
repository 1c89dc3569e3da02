"""The check table: each check a small function with its code and a one-line description,
returning its findings, registered in CHECK_TABLE in the order the report shows them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from core.ledger.check import findings
from core.ledger.check.limits import HolderReview, review_holder
from core.ledger.check.payment_queries import (
    mismatched_holds,
    payment_transfers_without_payment,
    unmatched_payments,
)
from core.ledger.check.queries import LedgerReader
from core.ledger.check.report import CheckResult
from core.ledger.check.spend_queries import grant_holders, holder_days, person_holders
from core.ledger.identifiers import iban_problem


class Snapshot:
    """One run of the checks over one read-only snapshot. The spend and limits checks share
    one pass over the holders: whichever runs first makes it, the other reads it."""

    def __init__(self, reader: LedgerReader) -> None:
        self.reader = reader

    @cached_property
    def holders(self) -> HolderReview:
        review = HolderReview(start("spend"), start("limits"))
        for holders in (grant_holders(), person_holders()):
            for info, recorded, sent, caps in holder_days(self.reader, holders):
                review_holder(holders.label, info, recorded, sent, caps, review)
        review.limits.examined = review.spend.examined
        return review


@dataclass(frozen=True)
class Check:
    code: str
    title: str
    unit: str
    run: Callable[[Snapshot], CheckResult]


def conservation(snapshot: Snapshot) -> CheckResult:
    result = start("conservation")
    totals: dict[str, int] = defaultdict(int)
    for currency, total, count in snapshot.reader.entry_sums():
        totals[currency] += total
        result.examined += count
    for currency in sorted(totals):
        if totals[currency] != 0:
            result.fail(findings.currency_not_conserved(currency, totals[currency]))
    result.note = f"currencies: {', '.join(sorted(totals)) or 'none'}"
    return result


def balances(snapshot: Snapshot) -> CheckResult:
    result = start("balances")
    for examined, rows in snapshot.reader.unbalanced_accounts():
        result.examined += examined
        for account_id, currency, balance, summed, foreign_count in rows:
            if int(summed) != balance:
                result.fail(findings.balance_not_its_entries(account_id, currency, balance, summed))
            if foreign_count:
                result.fail(
                    findings.entries_in_another_currency(account_id, currency, foreign_count)
                )
    return result


def holds(snapshot: Snapshot) -> CheckResult:
    result = start("holds")
    for examined, rows in mismatched_holds(snapshot.reader):
        result.examined += examined
        for account_id, currency, held, pending, payments in rows:
            result.fail(
                findings.hold_not_its_payments(account_id, currency, held, pending, payments)
            )
    return result


def overdraft(snapshot: Snapshot) -> CheckResult:
    result = start("overdraft")
    result.examined = snapshot.reader.customer_accounts()
    for account_id, currency, balance, held, limit in snapshot.reader.overdrawn_accounts():
        result.fail(findings.past_overdraft_limit(account_id, currency, balance, held, limit))
    return result


def transfers(snapshot: Snapshot) -> CheckResult:
    result = start("transfers")
    for examined, rows in snapshot.reader.unbalanced_transfers():
        result.examined += examined
        for row in rows:
            result.fail(findings.transfer_not_balanced(row))
    return result


def payments(snapshot: Snapshot) -> CheckResult:
    result = start("payments")
    for examined, rows in unmatched_payments(snapshot.reader):
        result.examined += examined
        for row in rows:
            result.fail(findings.payment_not_its_transfer(row))
    transfers = 0
    for examined, rows in payment_transfers_without_payment(snapshot.reader):
        transfers += examined
        for row in rows:
            result.fail(findings.transfer_without_payment(row))
    result.note = f"transfers of kind payment: {transfers:,}"
    return result


def ibans(snapshot: Snapshot) -> CheckResult:
    result = start("ibans")
    for examined, rows in snapshot.reader.customer_ibans():
        result.examined += examined
        for account_id, iban in rows:
            problem = iban_problem(iban)
            if problem is not None:
                result.fail(findings.iban_invalid(account_id, problem))
    return result


def spend(snapshot: Snapshot) -> CheckResult:
    return snapshot.holders.spend


def limits(snapshot: Snapshot) -> CheckResult:
    return snapshot.holders.limits


CHECK_TABLE = (
    Check("conservation", "entries sum to zero in every currency", "entries", conservation),
    Check("balances", "every balance equals the sum of its entries", "accounts", balances),
    Check(
        "holds",
        "every account's held equals its payments awaiting approval or execution",
        "accounts",
        holds,
    ),
    Check(
        "overdraft",
        "no customer balance, less its holds, below its overdraft limit",
        "accounts",
        overdraft,
    ),
    Check(
        "transfers", "every transfer has exactly its two balanced entries", "transfers", transfers
    ),
    Check(
        "payments",
        "every posted or sent payment has exactly its transfer, every payment transfer its payment",
        "payments",
        payments,
    ),
    Check("ibans", "every customer account has a valid IBAN", "accounts", ibans),
    Check(
        "spend",
        "grant_spend and person_spend equal what was sent (transfers, and payments on the day "
        "they were made, pending ones too) per grant, per person, currency and tenant-local day",
        "holder-days",
        spend,
    ),
    Check(
        "limits",
        "no grant past its own or its role's daily or monthly limit, no person past the "
        "tenant's or the bank's caps",
        "holder-days",
        limits,
    ),
)
CHECKS = tuple(check.code for check in CHECK_TABLE)
_BY_CODE = {check.code: check for check in CHECK_TABLE}


def start(code: str) -> CheckResult:
    """The empty result of a check, titled from the table."""
    check = _BY_CODE[code]
    return CheckResult(check.code, check.title, unit=check.unit)
