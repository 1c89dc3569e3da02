"""What the API shows of a role, a grant and a cap (core.iam.public), and a custom role's key:
plain functions of rows built in memory, no database."""

from __future__ import annotations

import datetime as dt

import pytest

from core.iam import public
from core.iam.roles import role_key
from core.iam.schemas import CapPublic, LimitSet, TimeWindow
from core.models.iam import Grant, LimitCap, Role

NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def _role(**fields: object) -> Role:
    values: dict[str, object] = {
        "id": 5,
        "bank_id": 1,
        "tenant_id": 2,
        "key": "custom_clerk",
        "name": "Clerk",
        "description": "reads",
        "builtin": False,
        "level": "tenant",
    }
    return Role(**{**values, **fields})


def test_a_role_shows_its_permissions_and_limits() -> None:
    role = _role(limit_currency="EUR", per_transfer_limit=500_00, monthly_limit=9_000_00)
    shown = public.role(role, ["account.read", "statement.read"])
    assert shown.model_dump() == {
        "id": 5,
        "tenant_id": 2,
        "key": "custom_clerk",
        "name": "Clerk",
        "description": "reads",
        "builtin": False,
        "level": "tenant",
        "permissions": ["account.read", "statement.read"],
        "limits": {"currency": "EUR", "per_transfer": 500_00, "daily": None, "monthly": 9_000_00},
    }


def test_a_role_without_a_limit_currency_has_no_limits() -> None:
    assert public.role(_role(), []).limits is None


def test_a_grant_shows_its_role_scope_and_conditions() -> None:
    grant = Grant(
        id=9,
        user_id=3,
        role_id=5,
        bank_id=1,
        tenant_id=2,
        all_accounts=False,
        limit_currency="USD",
        daily_limit=100_00,
        window_days="024",
        window_start=8 * 60,
        window_end=24 * 60,
        window_zone="America/New_York",
        valid_until=NOW,
        created_by_id=4,
        created_at=NOW,
    )
    shown = public.grant(grant, _role(), [21, 22])
    assert (shown.id, shown.role_key, shown.role_name, shown.account_ids) == (
        9,
        "custom_clerk",
        "Clerk",
        [21, 22],
    )
    assert shown.limits == LimitSet(currency="USD", daily=100_00)
    assert shown.window == TimeWindow(
        days=["mon", "wed", "fri"], start="08:00", end="24:00", time_zone="America/New_York"
    )
    assert (shown.valid_from, shown.valid_until, shown.created_by, shown.revoked_at) == (
        None,
        NOW,
        4,
        None,
    )


def test_a_grant_without_window_days_has_no_window() -> None:
    grant = Grant(id=1, user_id=1, role_id=5, bank_id=1, tenant_id=2, created_at=NOW)
    shown = public.grant(grant, _role(), [])
    assert shown.window is None
    assert (shown.approval_group, shown.approval_limit) == (None, None)


def test_an_approvers_grant_shows_its_group_and_approval_limit() -> None:
    grant = Grant(
        id=1,
        user_id=1,
        role_id=5,
        bank_id=1,
        tenant_id=2,
        limit_currency="EUR",
        approval_group="A",
        approval_limit=1_000_00,
        created_at=NOW,
    )
    shown = public.grant(grant, _role(key="approver", builtin=True), [])
    assert (shown.approval_group, shown.approval_limit) == ("A", 1_000_00)
    assert shown.limits == LimitSet(currency="EUR")


@pytest.mark.parametrize(("tenant_id", "level"), [(None, "bank"), (2, "tenant")])
def test_a_cap_shows_its_level(tenant_id: int | None, level: str) -> None:
    cap = LimitCap(
        bank_id=1, tenant_id=tenant_id, currency="EUR", daily_limit=1_000_00, updated_at=NOW
    )
    assert public.cap(cap) == CapPublic(
        level=level,  # type: ignore[arg-type]
        tenant_id=tenant_id,
        currency="EUR",
        per_transfer=None,
        daily=1_000_00,
        monthly=None,
        updated_at=NOW,
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Payroll clerk", "custom_payroll_clerk"),
        ("  Payroll   Clerk!! ", "custom_payroll_clerk"),
        ("AP/AR (EU)", "custom_ap_ar_eu"),
        ("Zahlungsfreigabe Ü", "custom_zahlungsfreigabe_ü"),
        ("x" * 100, "custom_" + "x" * 57),
    ],
)
def test_a_custom_roles_key_comes_from_its_name(name: str, key: str) -> None:
    assert role_key(name) == key
