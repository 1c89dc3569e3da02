"""Roles, grants and caps through their services (core.iam.roles, grants, caps), on the
factories' bank: each change is checked, asked of the policy in order, and recorded once
with its before and after, as the API shows them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from core.context import RequestContext
from core.db import Database
from core.errors import Conflict, Forbidden, InvalidRequest, NotFound
from core.iam import caps, grants, roles
from core.iam.schemas import (
    CapSet,
    GrantCreate,
    GrantUpdate,
    LimitSet,
    RoleCreate,
    RoleUpdate,
    TimeWindow,
)
from core.models.iam import GrantAccount
from core.pagination import PageRequest
from tests.factories import World, staff_context

T = TypeVar("T")
UTC = dt.UTC
OFFICE = TimeWindow(days=["mon", "tue"], start="09:00", end="17:00", time_zone="Europe/Berlin")


def _as(
    db: Database, username: str, clock: Any, work: Callable[[Any, RequestContext], T]
) -> tuple[T, RequestContext]:
    """Run `work` in a unit of work as `username`; the result and the request's context (its
    queued changes and activity)."""
    ctx = RequestContext(actor=staff_context(db, username, clock).actor, clock=clock)
    with db.unit_of_work() as session:
        return work(session, ctx), ctx


def _changes(ctx: RequestContext) -> list[tuple[str, int, str, int | None]]:
    return [(c.entity, c.entity_id, c.change, c.tenant_id) for c in ctx.audit.changes]


def _payer_role_id(world: World) -> int:
    return world.grants["acme-payer"].role_id


# -- grants ---------------------------------------------------------------------------------


def test_a_created_grant_is_recorded_as_shown(db, world, clock):  # type: ignore[no-untyped-def]
    body = GrantCreate(
        user_id=world.user_id("acme-bookkeeper"),
        role_id=_payer_role_id(world),
        all_accounts=False,
        account_ids=[world.account_id("acme-payroll"), world.account_id("acme-operating")],
        limits=LimitSet(currency="EUR", per_transfer=500_00),
        window=OFFICE,
    )
    created, ctx = _as(db, "acme-admin", clock, lambda s, c: grants.create_grant(s, c, body))
    assert created.account_ids == sorted(body.account_ids)
    assert (created.limits, created.window) == (body.limits, OFFICE)
    acme = world.tenants["acme"].id
    assert _changes(ctx) == [("grant", created.id, "create", acme)]
    record = ctx.audit.changes[0]
    assert record.before is None
    assert json.loads(record.after) == created.model_dump(mode="json")
    assert (record.actor_id, record.bank_id) == (world.user_id("acme-admin"), world.bank.id)
    assert ctx.audit.activity is not None
    assert ctx.audit.activity.done == (
        "gave acme-bookkeeper the role Payer over accounts "
        f"{', '.join(map(str, created.account_ids))}, up to 500.00 EUR per transfer, "
        "Mon, Tue 09:00–17:00 Europe/Berlin"
    )


def test_a_grant_patch_changes_what_it_names_and_keeps_the_rest(db, world, clock):  # type: ignore[no-untyped-def]
    grant_id = world.grants["acme-payer"].id
    first = GrantUpdate(limits=LimitSet(currency="EUR", daily=900_00), window=OFFICE)
    _as(db, "acme-admin", clock, lambda s, c: grants.update_grant(s, c, grant_id, first))
    payroll = world.account_id("acme-payroll")
    second = GrantUpdate(all_accounts=False, account_ids=[payroll], clear_limits=True)
    after, ctx = _as(
        db, "acme-admin", clock, lambda s, c: grants.update_grant(s, c, grant_id, second)
    )
    assert (after.limits, after.window, after.all_accounts, after.account_ids) == (
        None,
        OFFICE,
        False,
        [payroll],
    )
    record = ctx.audit.changes[0]
    assert _changes(ctx) == [("grant", grant_id, "update", world.tenants["acme"].id)]
    assert json.loads(record.before)["limits"] == {
        "currency": "EUR",
        "per_transfer": None,
        "daily": 900_00,
        "monthly": None,
    }
    assert json.loads(record.after) == after.model_dump(mode="json")
    with db.unit_of_work(write=False) as session:
        rows = session.scalars(select(GrantAccount).where(GrantAccount.grant_id == grant_id))
        assert [(r.account_id, r.user_id) for r in rows] == [(payroll, world.user_id("acme-payer"))]
    # Back to all accounts: the list goes.
    back, _ = _as(
        db,
        "acme-admin",
        clock,
        lambda s, c: grants.update_grant(s, c, grant_id, GrantUpdate(all_accounts=True)),
    )
    assert (back.all_accounts, back.account_ids) == (True, [])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            GrantUpdate(
                valid_from=dt.datetime(2030, 1, 1, tzinfo=UTC),
                valid_until=dt.datetime(2029, 1, 1, tzinfo=UTC),
            ),
            "invalid_validity",
        ),
        (GrantUpdate(all_accounts=False), "invalid_scope"),
        (GrantUpdate(all_accounts=True, account_ids=[1]), "invalid_scope"),
    ],
)
def test_a_grant_patch_that_does_not_hold_together_is_refused(db, world, clock, body, code):  # type: ignore[no-untyped-def]
    grant_id = world.grants["acme-payer"].id
    with pytest.raises(InvalidRequest) as refused:
        _as(db, "acme-admin", clock, lambda s, c: grants.update_grant(s, c, grant_id, body))
    assert refused.value.code == code


def test_a_grant_over_another_companys_account_is_refused(db, world, clock):  # type: ignore[no-untyped-def]
    grant_id = world.grants["acme-payer"].id
    body = GrantUpdate(all_accounts=False, account_ids=[world.account_id("globex-main")])
    with pytest.raises(InvalidRequest) as refused:
        _as(db, "acme-admin", clock, lambda s, c: grants.update_grant(s, c, grant_id, body))
    assert refused.value.code == "invalid_scope"
    assert str(world.account_id("globex-main")) in refused.value.detail


def test_the_policy_is_asked_before_the_patch_is_checked(db, world, clock):  # type: ignore[no-untyped-def]
    # Compliance reads every grant and manages none: a bad patch is 403, not 422.
    grant_id = world.grants["acme-payer"].id
    bad = GrantUpdate(all_accounts=False)
    with pytest.raises(Forbidden):
        _as(db, "compliance", clock, lambda s, c: grants.update_grant(s, c, grant_id, bad))
    # Another company's admin does not see the grant at all.
    with pytest.raises(NotFound, match=f"grant {grant_id} not found"):
        _as(db, "globex-admin", clock, lambda s, c: grants.update_grant(s, c, grant_id, bad))


def test_a_revoked_grant_is_recorded_once_and_then_cannot_change(db, world, clock):  # type: ignore[no-untyped-def]
    grant_id = world.grants["acme-bookkeeper"].id
    revoked, ctx = _as(db, "acme-admin", clock, lambda s, c: grants.revoke_grant(s, c, grant_id))
    assert revoked.revoked_at is not None
    assert _changes(ctx) == [("grant", grant_id, "revoke", world.tenants["acme"].id)]
    assert ctx.audit.changes[0].after is None
    again, ctx = _as(db, "acme-admin", clock, lambda s, c: grants.revoke_grant(s, c, grant_id))
    assert again.revoked_at == revoked.revoked_at
    assert ctx.audit.changes == []
    with pytest.raises(Conflict) as refused:
        _as(
            db,
            "acme-admin",
            clock,
            lambda s, c: grants.update_grant(s, c, grant_id, GrantUpdate(clear_window=True)),
        )
    assert refused.value.code == "grant_revoked"


def test_grant_pages_walk_every_readable_grant_once(db, world, clock):  # type: ignore[no-untyped-def]
    seen: list[int] = []
    cursor = None
    while True:
        page, _ = _as(
            db,
            "manager",
            clock,
            lambda s, c, at=cursor: grants.list_grants(s, c, cursor=at, limit=2),
        )
        seen += [g.id for g in page.items]
        if page.next_cursor is None:
            break
        assert PageRequest.of(page.next_cursor, 2).after == seen[-1]
        cursor = page.next_cursor
    assert seen == sorted(g.id for g in world.grants.values())


# -- roles ----------------------------------------------------------------------------------


def test_a_custom_role_is_created_changed_and_deleted_on_the_record(db, world, clock):  # type: ignore[no-untyped-def]
    body = RoleCreate(name="Payroll clerk", permissions=["statement.read", "account.read"])
    role, ctx = _as(db, "acme-admin", clock, lambda s, c: roles.create_role(s, c, body))
    acme = world.tenants["acme"].id
    assert (role.key, role.permissions, role.tenant_id) == (
        "custom_payroll_clerk",
        ["account.read", "statement.read"],
        acme,
    )
    assert _changes(ctx) == [("role", role.id, "create", acme)]
    with pytest.raises(Conflict) as refused:
        _as(db, "acme-admin", clock, lambda s, c: roles.create_role(s, c, body))
    assert refused.value.code == "role_exists"

    patch = RoleUpdate(description="reads pay", limits=LimitSet(currency="EUR", daily=10_00))
    changed, ctx = _as(
        db, "acme-admin", clock, lambda s, c: roles.update_role(s, c, role.id, patch)
    )
    assert (changed.name, changed.description, changed.limits) == (
        "Payroll clerk",
        "reads pay",
        patch.limits,
    )
    assert json.loads(ctx.audit.changes[0].before) == role.model_dump(mode="json")
    cleared, _ = _as(
        db,
        "acme-admin",
        clock,
        lambda s, c: roles.update_role(s, c, role.id, RoleUpdate(clear_limits=True)),
    )
    assert (cleared.limits, cleared.description) == (None, "reads pay")

    _, ctx = _as(db, "acme-admin", clock, lambda s, c: roles.delete_role(s, c, role.id))
    assert _changes(ctx) == [("role", role.id, "delete", acme)]
    with pytest.raises(NotFound):
        _as(db, "acme-admin", clock, lambda s, c: roles.get_role(s, c, role.id))


def test_built_in_and_used_roles_stay(db, world, clock):  # type: ignore[no-untyped-def]
    payer = _payer_role_id(world)
    with pytest.raises(Conflict) as refused:
        _as(
            db,
            "acme-admin",
            clock,
            lambda s, c: roles.update_role(s, c, payer, RoleUpdate(name="x")),
        )
    assert refused.value.code == "builtin_role"
    body = RoleCreate(name="Viewer", permissions=["account.read"])
    role, _ = _as(db, "acme-admin", clock, lambda s, c: roles.create_role(s, c, body))
    grant = GrantCreate(user_id=world.user_id("acme-bookkeeper"), role_id=role.id)
    _as(db, "acme-admin", clock, lambda s, c: grants.create_grant(s, c, grant))
    with pytest.raises(Conflict) as refused:
        _as(db, "acme-admin", clock, lambda s, c: roles.delete_role(s, c, role.id))
    assert refused.value.code == "role_in_use"


def test_a_role_with_a_permission_no_custom_role_carries_is_refused(db, world, clock):  # type: ignore[no-untyped-def]
    body = RoleCreate(name="Sneaky", permissions=["account.read", "tenant.manage"])
    with pytest.raises(InvalidRequest) as refused:
        _as(db, "acme-admin", clock, lambda s, c: roles.create_role(s, c, body))
    assert refused.value.code == "invalid_permission"
    assert "tenant.manage" in refused.value.detail


# -- caps -----------------------------------------------------------------------------------


def test_a_cap_is_created_then_updated_on_the_record(db, world, clock):  # type: ignore[no-untyped-def]
    acme = world.tenants["acme"].id
    first, ctx = _as(
        db, "manager", clock, lambda s, c: caps.set_cap(s, c, acme, "EUR", CapSet(daily=5_000_00))
    )
    assert (first.level, first.daily, first.per_transfer) == ("tenant", 5_000_00, None)
    [(entity, cap_id, change, tenant)] = _changes(ctx)
    assert (entity, change, tenant) == ("cap", "create", acme)
    assert ctx.audit.changes[0].before is None
    second, ctx = _as(
        db, "manager", clock, lambda s, c: caps.set_cap(s, c, acme, "EUR", CapSet(monthly=9_00))
    )
    assert _changes(ctx) == [("cap", cap_id, "update", acme)]
    assert json.loads(ctx.audit.changes[0].before) == first.model_dump(mode="json")
    assert json.loads(ctx.audit.changes[0].after) == second.model_dump(mode="json")
    listed, _ = _as(db, "acme-admin", clock, lambda s, c: caps.list_caps(s, c, acme))
    assert listed == [second]
    bank, _ = _as(db, "manager", clock, lambda s, c: caps.list_caps(s, c, None))
    assert all(c.level == "bank" for c in bank)


def test_a_cap_in_no_currency_is_refused(db, world, clock):  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequest) as refused:
        _as(db, "manager", clock, lambda s, c: caps.set_cap(s, c, None, "XYZ", CapSet()))
    assert refused.value.code == "unknown_currency"
