"""Payment batch queries: the rows a batch decision reads and writes, under the locks the
callers take (the batch row first, then its accounts in id order, then the person)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.models.batches import PaymentBatch, PaymentBatchApproval, PaymentBatchItem
from core.models.ledger import Account
from core.models.payments import Beneficiary, Payment
from core.payments import repository as payment_rows


def batch(session: Session, batch_id: int, *, within: ColumnElement[bool]) -> PaymentBatch | None:
    """The batch, if `within` (core.policy.filters.within_reach) admits it."""
    return session.scalars(
        select(PaymentBatch).where(col(PaymentBatch.id) == batch_id, within)
    ).first()


def lock_batch(
    session: Session, batch_id: int, *, within: ColumnElement[bool] | None = None
) -> PaymentBatch | None:
    """The batch as a persistent ORM object, locked (PostgreSQL: FOR UPDATE): two approvals,
    or an approval and a rejection, of one batch run one after the other, and the second sees
    what the first did (populate_existing)."""
    stmt = select(PaymentBatch).where(col(PaymentBatch.id) == batch_id)
    if within is not None:
        stmt = stmt.where(within)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def msg_id_taken(session: Session, tenant_id: int, msg_id: str) -> bool:
    return (
        session.scalar(
            select(col(PaymentBatch.id)).where(
                col(PaymentBatch.tenant_id) == tenant_id, col(PaymentBatch.msg_id) == msg_id
            )
        )
        is not None
    )


def account_by_iban(session: Session, iban: str, *, within: ColumnElement[bool]) -> Account | None:
    """The customer account with this IBAN, if `within` admits it (detached)."""
    found = session.scalars(
        select(Account).where(col(Account.iban) == iban, col(Account.kind) == "customer", within)
    ).first()
    if found is not None:
        session.expunge(found)
    return found


def live_beneficiary(session: Session, tenant_id: int, iban: str) -> Beneficiary | None:
    """The tenant's beneficiary with this IBAN that is not deleted, if it has one."""
    return session.scalars(
        select(Beneficiary).where(
            col(Beneficiary.tenant_id) == tenant_id,
            col(Beneficiary.iban) == iban,
            col(Beneficiary.deleted_at).is_(None),
        )
    ).first()


def live_beneficiaries(
    session: Session, tenant_id: int, ibans: Sequence[str]
) -> dict[str, Beneficiary]:
    """The tenant's beneficiaries that are not deleted, by IBAN, among `ibans` (one query
    for a whole file)."""
    found: dict[str, Beneficiary] = {}
    wanted = sorted(set(ibans))
    for start in range(0, len(wanted), 500):
        rows = session.scalars(
            select(Beneficiary).where(
                col(Beneficiary.tenant_id) == tenant_id,
                col(Beneficiary.iban).in_(wanted[start : start + 500]),
                col(Beneficiary.deleted_at).is_(None),
            )
        )
        found.update((row.iban, row) for row in rows)
    return found


def items_of(session: Session, batch_id: int) -> list[PaymentBatchItem]:
    """A batch's items, in the file's order."""
    return list(
        session.scalars(
            select(PaymentBatchItem)
            .where(col(PaymentBatchItem.batch_id) == batch_id)
            .order_by(col(PaymentBatchItem.position))
        )
    )


def credit_account_ids(session: Session, batch_id: int) -> list[int]:
    """Where the accepted items of a batch pay to: the accounts its posting locks."""
    return list(
        session.scalars(
            select(col(PaymentBatchItem.credit_account_id))
            .where(
                col(PaymentBatchItem.batch_id) == batch_id,
                col(PaymentBatchItem.status) == "accepted",
                col(PaymentBatchItem.credit_account_id).is_not(None),
            )
            .distinct()
        )
    )


def approvals_of(
    session: Session, batch_ids: Sequence[int]
) -> dict[int, list[PaymentBatchApproval]]:
    """The approvals of each batch, oldest first."""
    found: dict[int, list[PaymentBatchApproval]] = {b: [] for b in batch_ids}
    if not batch_ids:
        return found
    rows = session.scalars(
        select(PaymentBatchApproval)
        .where(col(PaymentBatchApproval.batch_id).in_(list(batch_ids)))
        .order_by(col(PaymentBatchApproval.id))
    )
    for row in rows:
        found[row.batch_id].append(row)
    return found


def payment_statuses(session: Session, payment_ids: Sequence[int]) -> dict[int, str]:
    """The status of each of these payments (an approved batch's items are its payments)."""
    if not payment_ids:
        return {}
    rows = session.execute(
        select(col(Payment.id), col(Payment.status)).where(col(Payment.id).in_(list(payment_ids)))
    )
    return {row.id: row.status for row in rows}


def lapsed_ids(session: Session, now: dt.datetime, *, account_id: int | None = None) -> list[int]:
    """Batches still waiting past their expiry (all, or one account's), in id order."""
    stmt = select(col(PaymentBatch.id)).where(
        col(PaymentBatch.status) == "pending_approval", col(PaymentBatch.expires_at) <= now
    )
    if account_id is not None:
        stmt = stmt.where(col(PaymentBatch.account_id) == account_id)
    return list(session.scalars(stmt.order_by(col(PaymentBatch.id))))


def batches(where: ColumnElement[bool]) -> Select[PaymentBatch]:
    """Batches `where` admits, in no order (core.pagination orders the pages)."""
    return select(PaymentBatch).where(where)


# The batches an approver's inbox lists (core.payments.repository.awaiting, count_awaiting).
BATCHES = payment_rows.Awaitable(PaymentBatch, PaymentBatchApproval, PaymentBatchApproval.batch_id)
