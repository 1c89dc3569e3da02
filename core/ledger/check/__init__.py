"""The ledger checker behind `mandate ledger check`: verifies a live database.

Nine checks, each a question the ledger must always answer "yes" to:

- conservation: per currency, the entries sum to zero;
- balances: every account's balance equals the sum of its entries (all in its currency);
- holds: every account's held equals the sum of its payments awaiting approval or their
  execution date (scheduled);
- overdraft: no customer balance, less what its payments awaiting approval hold, is below its
  overdraft limit (clearing accounts may be);
- transfers: every transfer has exactly its two entries, a debit of -amount on its debit
  account and a credit of +amount on its credit account, in the transfer's currency, and both
  accounts are in that currency;
- payments: every posted or sent payment has exactly one transfer of kind "payment", with its
  amount, currency, accounts, person and grant; a payment that moved no money has none; and
  every transfer of kind "payment" belongs to a payment;
- ibans: every customer account has a valid IBAN (schwifty), in electronic form;
- spend: the running totals in grant_spend equal what was sent under each grant, and those in
  person_spend what each person sent under all their grants, per currency and day of the
  tenant's zone (what cumulative limits are checked against). A payment counts on the day it
  was made (payments.spend_day), not its transfer's day, from the moment it is made (one
  awaiting approval too); one that ended without moving money counts nothing;
- limits: no grant spent more in a day or a month than the smaller of its own limit and its
  role's, and no person more than the tenant's and the bank's caps (which are per person).

Everything is read in one snapshot (PostgreSQL: REPEATABLE READ, READ ONLY; SQLite: one read
transaction), so the checker can run while transfers are being posted. Work is aggregated in
SQL over ranges of ids and only a few examples of each problem are kept: memory stays bounded
however large the ledger.

The package, by job: checks (the check table), queries, payment_queries and spend_queries
(the read-only SQL), limits (judging running totals and limits, pure), findings and report
(the wording and the report, pure), run (the snapshot and the order of the checks).
"""

from core.ledger.check.checks import CHECK_TABLE, CHECKS, Check
from core.ledger.check.report import MAX_EXAMPLES, CheckResult, LedgerReport
from core.ledger.check.run import check_database, run_checks

__all__ = [
    "CHECKS",
    "CHECK_TABLE",
    "MAX_EXAMPLES",
    "Check",
    "CheckResult",
    "LedgerReport",
    "check_database",
    "run_checks",
]
