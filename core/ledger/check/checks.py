"""The check table: each check a small function with its code and a one-line description,
returning its findings, registered in CHECK_TABLE in the order the report shows them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from core.ledger.check import findings
from core.ledger.check.limits import HolderReview, review_holder
from core.ledger.check.queries import LedgerReader
from core.ledger.check.report import CheckResult
from core.ledger.check.spend_queries import grant_holders, holder_days, person_holders


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


def overdraft(snapshot: Snapshot) -> CheckResult:
    result = start("overdraft")
    result.examined = snapshot.reader.customer_accounts()
    for account_id, currency, balance, limit in snapshot.reader.overdrawn_accounts():
        result.fail(findings.past_overdraft_limit(account_id, currency, balance, limit))
    return result


def transfers(snapshot: Snapshot) -> CheckResult:
    result = start("transfers")
    for examined, rows in snapshot.reader.unbalanced_transfers():
        result.examined += examined
        for row in rows:
            result.fail(findings.transfer_not_balanced(row))
    return result


def spend(snapshot: Snapshot) -> CheckResult:
    return snapshot.holders.spend


def limits(snapshot: Snapshot) -> CheckResult:
    return snapshot.holders.limits


CHECK_TABLE = (
    Check("conservation", "entries sum to zero in every currency", "entries", conservation),
    Check("balances", "every balance equals the sum of its entries", "accounts", balances),
    Check("overdraft", "no customer balance below its overdraft limit", "accounts", overdraft),
    Check(
        "transfers", "every transfer has exactly its two balanced entries", "transfers", transfers
    ),
    Check(
        "spend",
        "grant_spend and person_spend equal the transfers per grant, per person, currency and "
        "tenant-local day",
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
