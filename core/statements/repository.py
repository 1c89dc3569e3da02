"""What a statement export adds to the ledger's entries: who the counterparty of each entry
is, as far as the account's own tenant may know it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.models.ledger import Account
from core.models.payments import Beneficiary, Payment


def own_payments(
    session: Session, tenant_id: int, transfer_ids: Collection[int]
) -> Sequence[Row[*tuple[Any, ...]]]:
    """The tenant's payments that posted these transfers, with the beneficiary record the
    tenant keeps for each (its name and IBAN as the tenant typed them)."""
    if not transfer_ids:
        return []
    return session.execute(
        select(
            col(Payment.transfer_id),
            col(Payment.id),
            col(Payment.reference),
            col(Beneficiary.name),
            col(Beneficiary.iban),
        )
        .join(Beneficiary, col(Beneficiary.id) == col(Payment.beneficiary_id))
        .where(
            col(Payment.tenant_id) == tenant_id,
            col(Payment.transfer_id).in_(list(transfer_ids)),
        )
    ).all()


def own_accounts(
    session: Session, tenant_id: int, account_ids: Collection[int]
) -> Sequence[Row[*tuple[Any, ...]]]:
    """(id, name, iban) of those accounts that are the tenant's own."""
    if not account_ids:
        return []
    return session.execute(
        select(col(Account.id), col(Account.name), col(Account.iban)).where(
            col(Account.tenant_id) == tenant_id, col(Account.id).in_(list(account_ids))
        )
    ).all()


def beneficiaries_at(
    session: Session, tenant_id: int, account_ids: Collection[int]
) -> Sequence[Row[*tuple[Any, ...]]]:
    """(internal_account_id, name, iban) of the tenant's beneficiary records for accounts of
    the bank (another tenant's), live ones after deleted ones so that a live record wins."""
    if not account_ids:
        return []
    return session.execute(
        select(col(Beneficiary.internal_account_id), col(Beneficiary.name), col(Beneficiary.iban))
        .where(
            col(Beneficiary.tenant_id) == tenant_id,
            col(Beneficiary.internal_account_id).in_(list(account_ids)),
        )
        .order_by(col(Beneficiary.deleted_at).is_(None), col(Beneficiary.id))
    ).all()
