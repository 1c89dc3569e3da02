"""Payment queries: the rows a payment decision reads and writes, under the locks the callers
take (a payment row first, then its accounts in id order)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from core.db import table_of
from core.models.iam import User
from core.models.ledger import Account
from core.models.payments import ApprovalRule, Beneficiary, Payment, PaymentApproval

_ACCOUNTS = table_of(Account)
_CHANGE_HELD = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
    .values(held=_ACCOUNTS.c.held + bindparam("delta"), updated_at=bindparam("now"))
)


def change_held(session: Session, account_id: int, delta: int, now: dt.datetime) -> None:
    """Add `delta` to the account's holds (negative: release). The account is locked."""
    session.connection().execute(
        _CHANGE_HELD, {"account_id": account_id, "delta": delta, "now": now}
    )


def lock_payment(session: Session, payment_id: int) -> Payment | None:
    """The payment as a persistent ORM object, locked (PostgreSQL: FOR UPDATE) so that two
    approvals, or an approval and a cancellation, of one payment run one after the other.
    populate_existing: the row as it is once the lock is ours, not as first read."""
    stmt = select(Payment).where(col(Payment.id) == payment_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def approvals_of(session: Session, payment_ids: Sequence[int]) -> dict[int, list[PaymentApproval]]:
    """The approvals of each payment, oldest first."""
    found: dict[int, list[PaymentApproval]] = {pid: [] for pid in payment_ids}
    if not payment_ids:
        return found
    rows = session.scalars(
        select(PaymentApproval)
        .where(col(PaymentApproval.payment_id).in_(list(payment_ids)))
        .order_by(col(PaymentApproval.id))
    )
    for row in rows:
        found[row.payment_id].append(row)
    return found


def beneficiary_names(session: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(col(Beneficiary.id), col(Beneficiary.name)).where(
            col(Beneficiary.id).in_(list(set(ids)))
        )
    )
    return {row.id: row.name for row in rows}


def tiers(session: Session, bank_id: int, tenant_id: int, currency: str) -> list[ApprovalRule]:
    """The bank's minimums and the tenant's own rules in `currency`: the panel's tiers."""
    return list(
        session.scalars(
            select(ApprovalRule)
            .where(
                col(ApprovalRule.bank_id) == bank_id,
                or_(
                    col(ApprovalRule.tenant_id).is_(None), col(ApprovalRule.tenant_id) == tenant_id
                ),
                col(ApprovalRule.currency) == currency,
            )
            .order_by(col(ApprovalRule.id))
        )
    )


def rules_of(session: Session, bank_id: int, tenant_id: int | None) -> list[ApprovalRule]:
    """The bank's minimums (tenant_id None) or one tenant's own rules, in id order."""
    owner = (
        col(ApprovalRule.tenant_id).is_(None)
        if tenant_id is None
        else col(ApprovalRule.tenant_id) == tenant_id
    )
    return list(
        session.scalars(
            select(ApprovalRule)
            .where(col(ApprovalRule.bank_id) == bank_id, owner)
            .order_by(col(ApprovalRule.id))
        )
    )


def lapsed_ids(session: Session, now: dt.datetime, *, account_id: int | None = None) -> list[int]:
    """Payments still waiting past their expiry (all, or one account's), in id order."""
    stmt = select(col(Payment.id)).where(
        col(Payment.status) == "pending_approval", col(Payment.expires_at) <= now
    )
    if account_id is not None:
        stmt = stmt.where(col(Payment.account_id) == account_id)
    return list(session.scalars(stmt.order_by(col(Payment.id))))


def payments(where: ColumnElement[bool]) -> Select[Payment]:
    """Payments `where` admits, in no order (core.pagination orders the pages)."""
    return select(Payment).where(where)


def colleagues(session: Session, tenant_id: int, *, exclude: int, limit: int = 200) -> list[User]:
    """The tenant's active people but one, in id order (who could approve a payment)."""
    return list(
        session.scalars(
            select(User)
            .where(
                col(User.tenant_id) == tenant_id,
                col(User.is_active).is_(True),
                col(User.id) != exclude,
            )
            .order_by(col(User.id))
            .limit(limit)
        )
    )


def count_waiting(
    session: Session, account_ids: Select[Any], person_id: int, now: dt.datetime
) -> int:
    """Payments waiting (not past their expiry) on these accounts that `person_id` neither
    prepared nor approved yet: one count, for a badge."""
    approved = select(col(PaymentApproval.payment_id)).where(
        col(PaymentApproval.approver_id) == person_id
    )
    stmt = select(func.count()).where(
        col(Payment.account_id).in_(account_ids),
        col(Payment.status) == "pending_approval",
        col(Payment.expires_at) > now,
        col(Payment.initiated_by_id) != person_id,
        col(Payment.id).not_in(approved),
    )
    return int(session.scalar(stmt) or 0)


def display_names(
    session: Session, ids: Sequence[int], *, bank_id: int, tenant_id: int | None
) -> dict[int, str]:
    """Display names of these people, if they are of the bank (and of the tenant, if one is
    given)."""
    if not ids:
        return {}
    stmt = select(col(User.id), col(User.display_name)).where(
        col(User.id).in_(list(set(ids))), col(User.bank_id) == bank_id
    )
    if tenant_id is not None:
        stmt = stmt.where(col(User.tenant_id) == tenant_id)
    return {row.id: row.display_name for row in session.execute(stmt)}
