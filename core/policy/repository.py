"""The policy's queries: which grants reach a resource, what their custom roles carry, the
caps in a currency, the tenant's time zone and step-up rules, a payment's approvals, what an
approver approved today. Indexed lookups, built once; the rows they return are shaped into
facts by core.policy.shaping. Totals spent are core.policy.spend's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, func, or_, select, union
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import Actor
from core.models.batches import PaymentBatch, PaymentBatchApproval
from core.models.iam import Bank, Grant, GrantAccount, LimitCap, Role, RolePermission, Tenant
from core.models.payments import Payment, PaymentApproval
from core.policy.shaping import StepUp, caps_by_level


def _grants_over_account_statement() -> Any:
    user: BindParameter[int] = bindparam("user_id")
    account: BindParameter[int] = bindparam("account_id")
    every = select(col(Grant.id)).where(
        col(Grant.user_id) == user,
        col(Grant.all_accounts).is_(True),
        col(Grant.revoked_at).is_(None),
    )
    listed = (
        select(col(Grant.id))
        .join(GrantAccount, col(GrantAccount.grant_id) == col(Grant.id))
        .where(
            col(GrantAccount.account_id) == account,
            col(GrantAccount.user_id) == user,
            col(Grant.revoked_at).is_(None),
        )
    )
    ids = union(every, listed).subquery()
    return (
        select(Grant, Role)
        .join(Role, col(Role.id) == col(Grant.role_id))
        .where(col(Grant.id).in_(select(ids)))
        .order_by(col(Grant.id))
    )


# Built once: these run on every request, and building a statement costs more than running it.
_GRANTS_OVER_ACCOUNT = _grants_over_account_statement()
_GRANTS_OF_USER = (
    select(Grant, Role)
    .join(Role, col(Role.id) == col(Grant.role_id))
    .where(col(Grant.user_id) == bindparam("user_id"), col(Grant.revoked_at).is_(None))
    .order_by(col(Grant.id))
)


def grants_over_account(
    session: Session, user_id: int, account_id: int
) -> list[tuple[Grant, Role]]:
    """The user's live grants whose scope holds the account: the grants over all accounts,
    and the grants listing it. Two index lookups, whatever the number of grants."""
    rows = session.execute(_GRANTS_OVER_ACCOUNT, {"user_id": user_id, "account_id": account_id})
    return [(g, r) for g, r in rows]


def grants_of_user(session: Session, user_id: int) -> list[tuple[Grant, Role]]:
    return [(g, r) for g, r in session.execute(_GRANTS_OF_USER, {"user_id": user_id})]


def custom_permissions(session: Session, roles: Iterable[Role]) -> dict[int, list[str]]:
    """What each custom role among `roles` carries (built-in roles' are the policy's)."""
    ids = sorted({r.id for r in roles if not r.builtin and r.id is not None})
    result: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = session.execute(
            select(col(RolePermission.role_id), col(RolePermission.permission))
            .where(col(RolePermission.role_id).in_(ids))
            .order_by(col(RolePermission.role_id), col(RolePermission.permission))
        )
        for role_id, permission in rows:
            result[role_id].append(permission)
    return result


_CAPS = select(LimitCap).where(
    col(LimitCap.bank_id) == bindparam("bank_id"),
    col(LimitCap.currency) == bindparam("currency"),
    or_(col(LimitCap.tenant_id).is_(None), col(LimitCap.tenant_id) == bindparam("tenant_id")),
)


def caps_for(
    session: Session, bank_id: int, tenant_id: int | None, currency: str
) -> dict[str, dict[str, int]]:
    """The bank's and the tenant's caps in one currency: {"tenant": {"daily": 500000}, ...}."""
    rows = session.scalars(
        _CAPS, {"bank_id": bank_id, "currency": currency, "tenant_id": tenant_id or 0}
    )
    return caps_by_level(rows)


# A tenant's zone and step-up rules, read together: a transfer needs both.
_TENANT_RULES = select(
    col(Tenant.timezone),
    col(Tenant.step_up_minutes),
    col(Tenant.step_up_transfer_currency),
    col(Tenant.step_up_transfer_amount),
).where(col(Tenant.id) == bindparam("tenant_id"))
_BANK_STEP_UP = select(col(Bank.step_up_minutes)).where(col(Bank.id) == bindparam("bank_id"))


def _tenant_rules(session: Session, tenant_id: int, memo: dict[Any, Any] | None) -> Any:
    key = ("tenant_rules", tenant_id)
    if memo is not None and key in memo:
        return memo[key]
    row = session.connection().execute(_TENANT_RULES, {"tenant_id": tenant_id}).first()
    if memo is not None:
        memo[key] = row
    return row


def tenant_zone(session: Session, tenant_id: int, memo: dict[Any, Any] | None = None) -> str:
    """The tenant's time zone: its days and months of cumulative limits count there. Read from
    the database, at most once per request (`memo`): no process keeps a zone that may have
    changed since, so every process counts the same day."""
    row = _tenant_rules(session, tenant_id, memo)
    return str(row.timezone) if row is not None and row.timezone else "UTC"


def step_up_of(session: Session, actor: Actor, memo: dict[Any, Any] | None = None) -> StepUp:
    """What the actor's company asks for step-up (the bank, for its own staff), as the
    database holds it now: read at most once per request (`memo`), with the tenant's zone."""
    if actor.tenant_id is not None:
        row = _tenant_rules(session, actor.tenant_id, memo)
        if row is None:
            return StepUp()
        return StepUp(
            row.step_up_minutes, row.step_up_transfer_currency, row.step_up_transfer_amount
        )
    key = ("bank_step_up", actor.bank_id)
    if memo is not None and key in memo:
        return StepUp(memo[key])
    minutes = int(session.connection().scalar(_BANK_STEP_UP, {"bank_id": actor.bank_id}) or 0)
    if memo is not None:
        memo[key] = minutes
    return StepUp(minutes)


def payment_approvals(session: Session, payment_id: int) -> list[PaymentApproval]:
    """The approvals a payment has had, oldest first: what an explanation of an approval
    reads (core.payments keeps the same rows under its locks)."""
    return list(
        session.scalars(
            select(PaymentApproval)
            .where(col(PaymentApproval.payment_id) == payment_id)
            .order_by(col(PaymentApproval.id))
        )
    )


_APPROVED_PAYMENTS = (
    select(func.coalesce(func.sum(col(Payment.amount)), 0))
    .select_from(PaymentApproval)
    .join(Payment, col(Payment.id) == col(PaymentApproval.payment_id))
    .where(
        col(PaymentApproval.approver_id) == bindparam("user_id"),
        col(PaymentApproval.created_at) >= bindparam("start"),
        col(PaymentApproval.created_at) < bindparam("end"),
        col(Payment.currency) == bindparam("currency"),
    )
)
# A payment batch is approved as one payment of its total (core.batches).
_APPROVED_BATCHES = (
    select(func.coalesce(func.sum(col(PaymentBatch.total)), 0))
    .select_from(PaymentBatchApproval)
    .join(PaymentBatch, col(PaymentBatch.id) == col(PaymentBatchApproval.batch_id))
    .where(
        col(PaymentBatchApproval.approver_id) == bindparam("user_id"),
        col(PaymentBatchApproval.created_at) >= bindparam("start"),
        col(PaymentBatchApproval.created_at) < bindparam("end"),
        col(PaymentBatch.currency) == bindparam("currency"),
    )
)
_APPROVED = select(_APPROVED_PAYMENTS.scalar_subquery() + _APPROVED_BATCHES.scalar_subquery())


def approved_today(
    session: Session, user_id: int, currency: str, now: dt.datetime, zone: str
) -> int:
    """What the payments `user_id` approved today (the day of `now` in `zone`, the company's)
    sum to, in `currency`: each approval counts its payment's amount (a batch's, its total),
    whatever became of the payment since (an approval given is given)."""
    local = now.astimezone(ZoneInfo(zone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + dt.timedelta(days=1)  # wall-clock arithmetic: the next midnight, DST or not
    params = {
        "user_id": user_id,
        "currency": currency,
        "start": start.astimezone(dt.UTC),
        "end": end.astimezone(dt.UTC),
    }
    return int(session.connection().scalar(_APPROVED, params) or 0)
