"""What the API shows of a role, a grant and a cap: plain functions of their rows (and of
what the caller looked up beside them: a role's permissions, a grant's accounts)."""

from __future__ import annotations

from core.clock import DAY_NAMES, clock_time
from core.iam.schemas import CapPublic, GrantPublic, LimitSet, RolePublic, TimeWindow
from core.models.iam import Grant, LimitCap, Role


def limits(row: Role | Grant) -> LimitSet | None:
    if row.limit_currency is None:
        return None
    return LimitSet(
        currency=row.limit_currency,
        per_transfer=row.per_transfer_limit,
        daily=row.daily_limit,
        monthly=row.monthly_limit,
    )


def window(grant: Grant) -> TimeWindow | None:
    if grant.window_days is None:
        return None
    return TimeWindow(
        days=[DAY_NAMES[int(d)] for d in grant.window_days],
        start=clock_time(grant.window_start or 0),
        end=clock_time(grant.window_end or 0),
        time_zone=grant.window_zone or "UTC",
    )


def role(row: Role, permissions: list[str]) -> RolePublic:
    assert row.id is not None
    return RolePublic(
        id=row.id,
        tenant_id=row.tenant_id,
        key=row.key,
        name=row.name,
        description=row.description,
        builtin=row.builtin,
        level=row.level,
        permissions=permissions,
        limits=limits(row),
    )


def grant(row: Grant, its_role: Role, account_ids: list[int]) -> GrantPublic:
    assert row.id is not None
    return GrantPublic(
        id=row.id,
        user_id=row.user_id,
        role_id=row.role_id,
        role_key=its_role.key,
        role_name=its_role.name,
        tenant_id=row.tenant_id,
        all_accounts=row.all_accounts,
        account_ids=account_ids,
        limits=limits(row),
        window=window(row),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        approval_group=row.approval_group,
        approval_limit=row.approval_limit,
        approval_daily_limit=row.approval_daily_limit,
        created_by=row.created_by_id,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def cap(row: LimitCap) -> CapPublic:
    return CapPublic(
        level="bank" if row.tenant_id is None else "tenant",
        tenant_id=row.tenant_id,
        currency=row.currency,
        per_transfer=row.per_transfer_limit,
        daily=row.daily_limit,
        monthly=row.monthly_limit,
        updated_at=row.updated_at,
    )
