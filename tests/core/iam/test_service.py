"""Tenants and users through core.iam.service, on the factories' bank: each change recorded
once, in one line's worth of facts, and the built-in roles seeded from the policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from core.context import RequestContext
from core.db import Database
from core.errors import Conflict, NotFound
from core.iam import service as iam
from core.iam.schemas import PasswordReset, TenantCreate, UserCreate, UserUpdate
from core.iam.vocabulary import builtin_roles
from core.models.iam import Role
from tests.factories import staff_context

T = TypeVar("T")


def _as(
    db: Database, username: str, clock: Any, work: Callable[[Any, RequestContext], T]
) -> tuple[T, RequestContext]:
    ctx = RequestContext(actor=staff_context(db, username, clock).actor, clock=clock)
    with db.unit_of_work() as session:
        return work(session, ctx), ctx


def _changes(ctx: RequestContext) -> list[tuple[str, int, str, int | None, bool, bool]]:
    return [
        (c.entity, c.entity_id, c.change, c.tenant_id, c.before is not None, c.after is not None)
        for c in ctx.audit.changes
    ]


def test_a_user_is_added_changed_and_reset_on_the_record(db, world, app, clock):  # type: ignore[no-untyped-def]
    passwords = app.state.services.passwords
    body = UserCreate(username="acme-clerk", display_name="Clerk", password="x" * 12)
    user, ctx = _as(db, "acme-admin", clock, lambda s, c: iam.add_user(s, c, passwords, body))
    acme = world.tenants["acme"].id
    assert (user.username, user.tenant_id, user.is_active) == ("acme-clerk", acme, True)
    assert _changes(ctx) == [("user", user.id, "create", acme, False, True)]
    assert json.loads(ctx.audit.changes[0].after) == user.model_dump(mode="json")
    with pytest.raises(Conflict) as refused:
        _as(db, "acme-admin", clock, lambda s, c: iam.add_user(s, c, passwords, body))
    assert refused.value.code == "username_taken"

    patch = UserUpdate(display_name="Chief clerk", is_active=False)
    changed, ctx = _as(db, "acme-admin", clock, lambda s, c: iam.update_user(s, c, user.id, patch))
    assert (changed.display_name, changed.is_active) == ("Chief clerk", False)
    assert _changes(ctx) == [("user", user.id, "update", acme, True, True)]
    assert ctx.audit.activity is not None
    assert (
        ctx.audit.activity.done == "changed user acme-clerk: display name Chief clerk, deactivated"
    )

    reset = PasswordReset(password="y" * 12)
    _, ctx = _as(
        db, "acme-admin", clock, lambda s, c: iam.reset_password(s, c, passwords, user.id, reset)
    )
    assert _changes(ctx) == [("user", user.id, "password_reset", acme, False, False)]


def test_another_companys_user_is_not_there(db, world, clock):  # type: ignore[no-untyped-def]
    globex_payer = world.user_id("globex-payer")
    with pytest.raises(NotFound, match=f"user {globex_payer} not found"):
        _as(db, "acme-admin", clock, lambda s, c: iam.get_user(s, c, globex_payer))


def test_an_onboarded_tenant_has_the_policys_built_in_roles(db, world, clock):  # type: ignore[no-untyped-def]
    tenant, ctx = _as(
        db,
        "manager",
        clock,
        lambda s, c: iam.onboard_tenant(s, c, TenantCreate(name="Initech", timezone="UTC")),
    )
    assert _changes(ctx) == [("tenant", tenant.id, "create", tenant.id, False, True)]
    with db.unit_of_work(write=False) as session:
        seeded = session.scalars(select(Role).where(Role.tenant_id == tenant.id).order_by(Role.id))
        assert [(r.key, r.name, r.builtin, r.level) for r in seeded] == [
            (b.key, b.name, True, "tenant") for b in builtin_roles("tenant")
        ]
    with pytest.raises(Conflict):
        _as(
            db,
            "manager",
            clock,
            lambda s, c: iam.onboard_tenant(s, c, TenantCreate(name="Initech")),
        )


def test_user_pages_walk_every_user_once(db, world, clock):  # type: ignore[no-untyped-def]
    seen: list[int] = []
    cursor = None
    while True:
        page, _ = _as(
            db, "manager", clock, lambda s, c, at=cursor: iam.list_users(s, c, cursor=at, limit=3)
        )
        seen += [u.id for u in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(u.id for u in world.users.values())


def test_me_lists_the_callers_live_grants(db, world, clock):  # type: ignore[no-untyped-def]
    me, _ = _as(db, "acme-payer", clock, lambda s, c: iam.me(s, c))
    assert (me.username, me.kind) == ("acme-payer", "customer")
    assert [g.id for g in me.grants] == [world.grants["acme-payer"].id]
