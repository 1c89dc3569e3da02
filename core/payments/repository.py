"""Payment queries: the rows a payment decision reads and writes, under the locks the callers
take (a payment row first, then its accounts in id order)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from core.db import table_of
from core.models.iam import Bank, Tenant, User
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


def payment(session: Session, payment_id: int, *, within: ColumnElement[bool]) -> Payment | None:
    """The payment, if `within` (core.policy.filters.within_reach) admits it."""
    return session.scalars(select(Payment).where(col(Payment.id) == payment_id, within)).first()


def beneficiary(
    session: Session, beneficiary_id: int, *, within: ColumnElement[bool]
) -> Beneficiary | None:
    """The beneficiary (deleted ones too), if `within` admits it."""
    return session.scalars(
        select(Beneficiary).where(col(Beneficiary.id) == beneficiary_id, within)
    ).first()


def lock_payment(
    session: Session, payment_id: int, *, within: ColumnElement[bool] | None = None
) -> Payment | None:
    """The payment as a persistent ORM object, locked (PostgreSQL: FOR UPDATE) so that two
    approvals, or an approval and a cancellation, of one payment run one after the other.
    populate_existing: the row as it is once the lock is ours, not as first read. A person's
    request passes `within` (their reach: core.policy.filters.within_reach); the expiry job
    reaches every payment."""
    stmt = select(Payment).where(col(Payment.id) == payment_id)
    if within is not None:
        stmt = stmt.where(within)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalars(stmt.execution_options(populate_existing=True)).first()


def unmoved_payment_ids_to(session: Session, beneficiary_id: int) -> list[int]:
    """The payments to a beneficiary whose money has not moved (waiting for approval, or
    scheduled for their execution date), in id order."""
    return list(
        session.scalars(
            select(col(Payment.id))
            .where(
                col(Payment.beneficiary_id) == beneficiary_id,
                col(Payment.status).in_(["pending_approval", "scheduled"]),
            )
            .order_by(col(Payment.id))
        )
    )


def beneficiary_deleted(session: Session, beneficiary_id: int) -> bool:
    """Whether the beneficiary was deleted (core.payments.beneficiaries.delete_beneficiary)."""
    deleted_at = session.scalar(
        select(col(Beneficiary.deleted_at)).where(col(Beneficiary.id) == beneficiary_id)
    )
    return deleted_at is not None


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


def lapsed_ids(
    session: Session,
    now: dt.datetime,
    *,
    account_id: int | None = None,
    payment_id: int | None = None,
) -> list[int]:
    """Payments still waiting past their expiry (all, one account's, or one), in id order."""
    stmt = select(col(Payment.id)).where(
        col(Payment.status) == "pending_approval", col(Payment.expires_at) <= now
    )
    return _of(session, stmt, account_id, payment_id)


def scheduled_ids(
    session: Session,
    now: dt.datetime,
    *,
    account_id: int | None = None,
    payment_id: int | None = None,
) -> list[int]:
    """Scheduled payments whose execution date may have come somewhere (the latest zone is at
    most a day ahead of UTC): the candidates, each then compared with its company's day."""
    horizon = now.astimezone(dt.UTC).date() + dt.timedelta(days=1)
    stmt = select(col(Payment.id)).where(
        col(Payment.status) == "scheduled", col(Payment.execution_date) <= horizon
    )
    return _of(session, stmt, account_id, payment_id)


def _of(
    session: Session,
    stmt: Select[int | None],
    account_id: int | None,
    payment_id: int | None,
) -> list[int]:
    if account_id is not None:
        stmt = stmt.where(col(Payment.account_id) == account_id)
    if payment_id is not None:
        stmt = stmt.where(col(Payment.id) == payment_id)
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


@dataclass(frozen=True)
class Awaitable:
    """What waits for approvals (a payment, a payment batch: `model`), with the table of its
    approvals (`approvals`, linked to it by `link`): the inbox queries below serve both."""

    model: Any
    approvals: Any
    link: Any


PAYMENTS = Awaitable(Payment, PaymentApproval, PaymentApproval.payment_id)


def awaiting(
    session: Session,
    reachable: ColumnElement[bool],
    user_id: int,
    now: dt.datetime,
    *,
    limit: int,
    of: Awaitable = PAYMENTS,
) -> list[Any]:
    """The oldest `limit` payments (or batches: `of`) still waiting (not past expiry) on the
    accounts `reachable` admits, that `user_id` neither prepared nor approved already: the
    inbox's candidates, before the policy decides each (so those two refusals cannot crowd
    out the payments the person may approve)."""
    stmt = (
        select(of.model)
        .where(_awaiting(of, reachable, user_id, now))
        .order_by(col(of.model.id))
        .limit(limit)
    )
    return list(session.scalars(stmt))


def count_awaiting(
    session: Session,
    reachable: ColumnElement[bool],
    user_id: int,
    now: dt.datetime,
    *,
    of: Awaitable = PAYMENTS,
) -> int:
    """How many payments (or batches: `of`) `awaiting` would choose from: one count, for a
    badge."""
    where = _awaiting(of, reachable, user_id, now)
    return int(session.scalar(select(func.count()).where(where)) or 0)


def _awaiting(
    of: Awaitable, reachable: ColumnElement[bool], user_id: int, now: dt.datetime
) -> ColumnElement[bool]:
    approved = exists(
        select(col(of.approvals.id)).where(
            col(of.link) == col(of.model.id),
            col(of.approvals.approver_id) == user_id,
        )
    )
    return and_(
        col(of.model.account_id).in_(select(col(Account.id)).where(reachable)),
        col(of.model.status) == "pending_approval",
        col(of.model.expires_at) > now,
        col(of.model.initiated_by_id) != user_id,
        ~approved,
    )


def lock_rule_owner(session: Session, bank_id: int, tenant_id: int | None) -> None:
    """Serialise changes to one owner's approval rules (a tenant's, or the bank's minimums):
    two replacements at once would otherwise leave both sets. PostgreSQL: the owner's row,
    FOR NO KEY UPDATE; SQLite runs one writer at a time."""
    if session.get_bind().dialect.name != "postgresql":
        return
    model, key = (Bank, bank_id) if tenant_id is None else (Tenant, tenant_id)
    session.execute(
        select(col(model.id)).where(col(model.id) == key).with_for_update(key_share=True)
    ).all()


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
