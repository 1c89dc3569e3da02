"""A statement's lines: the ledger's entries (core.ledger's statement pages) with what a file
adds to each, the booking day in the tenant's zone and the counterparty by name and IBAN.

A counterparty is named only from what the account's own tenant holds: its own accounts, its
own payments' beneficiary records, and its beneficiary records of accounts in the bank. Another
tenant's account it has no record of stays unnamed, as the console shows it: no tenant learns
another's names through a statement."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from core.ledger.schemas import EntryPublic
from core.statements import repository


@dataclass(frozen=True)
class Counterparty:
    name: str = ""
    iban: str = ""


@dataclass(frozen=True)
class StatementLine:
    """One entry as a statement file writes it. `amount` is signed (negative: money out)."""

    entry_id: int
    transfer_id: int
    payment_id: int | None
    kind: str
    amount: int
    currency: str
    balance_after: int
    booked_on: dt.date
    counterparty: Counterparty
    reference: str


def statement_lines(
    session: Session, tenant_id: int | None, zone: ZoneInfo, entries: list[EntryPublic]
) -> list[StatementLine]:
    """The page's entries as lines, with three queries for the whole page (not per entry)."""
    payments = {}
    names: dict[int, Counterparty] = {}
    if tenant_id is not None:
        transfer_ids = {e.transfer_id for e in entries}
        account_ids = {e.counterparty for e in entries}
        payments = {
            row.transfer_id: row
            for row in repository.own_payments(session, tenant_id, transfer_ids)
        }
        for row in repository.beneficiaries_at(session, tenant_id, account_ids):
            names[row.internal_account_id] = Counterparty(row.name, row.iban)
        for row in repository.own_accounts(session, tenant_id, account_ids):
            names[row.id] = Counterparty(row.name, row.iban or "")
    lines = []
    for entry in entries:
        payment = payments.get(entry.transfer_id)
        if payment is not None:
            counterparty = Counterparty(payment.name, payment.iban)
            reference = payment.reference or entry.description
        else:
            counterparty = names.get(entry.counterparty, Counterparty())
            reference = entry.description
        lines.append(
            StatementLine(
                entry_id=entry.id,
                transfer_id=entry.transfer_id,
                payment_id=payment.id if payment is not None else None,
                kind=entry.kind,
                amount=entry.amount,
                currency=entry.currency,
                balance_after=entry.balance_after,
                booked_on=entry.created_at.astimezone(zone).date(),
                counterparty=counterparty,
                reference=reference,
            )
        )
    return lines
