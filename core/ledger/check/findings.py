"""What each finding of the ledger checker says: the wording of every failure and warning,
in money as a person reads it. Pure: no database."""

from __future__ import annotations

from typing import Any

from core.money import format_amount


def money(amount: int | None, currency: str) -> str:
    return format_amount(int(amount or 0), currency)


def currency_not_conserved(currency: str, total: int) -> str:
    return f"{currency}: entries sum to {money(total, currency)}, not zero"


def balance_not_its_entries(account_id: int, currency: str, balance: int, summed: int) -> str:
    return (
        f"account {account_id}: balance {money(balance, currency)}, its "
        f"entries sum to {money(summed, currency)}"
    )


def entries_in_another_currency(account_id: int, currency: str, count: int) -> str:
    return f"account {account_id} ({currency}) has {count} entries in another currency"


def past_overdraft_limit(
    account_id: int, currency: str, balance: int, held: int, limit: int
) -> str:
    """What a payment awaiting approval holds counts as spent: the floor binds the balance
    less the holds."""
    if not held:
        return (
            f"account {account_id}: balance {money(balance, currency)} is past its "
            f"overdraft limit of {money(limit, currency)}"
        )
    return (
        f"account {account_id}: balance {money(balance, currency)} less "
        f"{money(held, currency)} held is {money(balance - held, currency)}, past its "
        f"overdraft limit of {money(limit, currency)}"
    )


def hold_not_its_payments(
    account_id: int, currency: str, held: int, pending: int, payments: int
) -> str:
    waiting = f"{payments} payment{'s' if payments != 1 else ''} awaiting approval or execution"
    return (
        f"account {account_id}: held {money(held, currency)}, its {waiting} "
        f"sum to {money(pending, currency)}"
    )


def payment_not_its_transfer(row: Any) -> str:
    """A payment whose money moved without exactly its transfer, or that did not move and
    names one: `row` carries the payment and its transfer's columns (transfer_...; None when
    it has none) (core.ledger.check.payment_queries)."""
    what = (
        f"payment {row.id} ({row.status}, {money(row.amount, row.currency)} from account "
        f"{row.account_id} to {row.credit_account_id})"
    )
    if row.status not in ("posted", "sent"):
        return f"{what}: moved no money, yet names transfer {row.transfer_id}"
    if row.transfer_found is None:
        return f"{what}: has no transfer" + (
            f" (transfer {row.transfer_id} does not exist)" if row.transfer_id else ""
        )
    transfer = f"its transfer {row.transfer_found}"
    problems = []
    if row.transfer_kind != "payment":
        problems.append(f"is of kind {row.transfer_kind}, not payment")
    if (row.transfer_amount, row.transfer_currency) != (row.amount, row.currency):
        problems.append(f"moves {money(row.transfer_amount, row.transfer_currency)}")
    if row.transfer_debit != row.account_id:
        problems.append(f"debits account {row.transfer_debit}")
    if row.transfer_credit != row.credit_account_id:
        problems.append(f"credits account {row.transfer_credit}")
    if row.transfer_initiated_by != row.initiated_by_id:
        problems.append(
            f"was made by person {row.transfer_initiated_by}, the payment by {row.initiated_by_id}"
        )
    if row.transfer_grant != row.grant_id:
        problems.append(
            f"is under {_grant(row.transfer_grant)}, the payment under {_grant(row.grant_id)}"
        )
    return f"{what}: {transfer} {'; '.join(problems)}"


def _grant(grant_id: int | None) -> str:
    return "no grant" if grant_id is None else f"grant {grant_id}"


def transfer_without_payment(row: Any) -> str:
    return (
        f"transfer {row.id} of kind payment ({money(row.amount, row.currency)} from account "
        f"{row.debit_account_id} to {row.credit_account_id}) belongs to no payment"
    )


def iban_invalid(account_id: int, problem: str) -> str:
    """`problem` says it (core.ledger.identifiers.iban_problem): "has no IBAN", ..."""
    return f"account {account_id} {problem}"


def transfer_not_balanced(row: Any) -> str:
    """A transfer whose entries are not its two: `row` counts its entries, its matching debits
    and credits, and carries both accounts' currencies (core.ledger.check.queries)."""
    what = (
        f"transfer {row.id} ({money(row.amount, row.currency)} from account "
        f"{row.debit_account_id} to {row.credit_account_id})"
    )
    problems = []
    if row.entries != 2:
        problems.append(f"has {row.entries} entries, not 2")
    if row.debits != 1:
        problems.append(
            f"needs one debit of {money(-row.amount, row.currency)} on account "
            f"{row.debit_account_id}, has {row.debits}"
        )
    if row.credits != 1:
        problems.append(
            f"needs one credit of {money(row.amount, row.currency)} on account "
            f"{row.credit_account_id}, has {row.credits}"
        )
    for side, currency in (("debit", row.debit_currency), ("credit", row.credit_currency)):
        if currency != row.currency:
            problems.append(f"its {side} account is in {currency}")
    return f"{what}: {'; '.join(problems)}"


def running_total_off(
    holder: str, table: str, day: str, currency: str, total: int, sent: int, sent_by_currency: str
) -> str:
    """`holder` is "grant 3" or "person 7"; `table` the running totals it was read from; what
    was sent counts its transfers and its payments (on the days they were made)."""
    return (
        f"{holder} on {day}: {table} says {money(total, currency)}, its transfers and payments "
        f"sum to {money(sent, currency)} ({sent_by_currency})"
    )


def amounts(sent: dict[str, int]) -> str:
    """What was sent, per currency in order: "325.00 EUR, 5.00 USD", or "none"."""
    return ", ".join(money(amount, currency) for currency, amount in sorted(sent.items())) or "none"


def limit_passed(
    label: str,
    holder_id: int,
    kind: str,
    period: str,
    spent: int,
    currency: str,
    level: str,
    limit: int,
) -> str:
    each = " for each person" if label == "person" else ""
    return (
        f"{label} {holder_id} {kind} {period}: spent {money(spent, currency)}, "
        f"{level} {kind} limit{each} is {money(limit, currency)}"
    )


def changed_after(message: str) -> str:
    return f"{message} (the limit was changed after the last transfer)"
