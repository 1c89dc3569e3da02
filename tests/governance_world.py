"""Dual administration in a test world: a second corporate admin of acme, and a change request
of theirs waiting for a second admin (world.change_request_ids["acme"]).

Worlds keep dual administration off (tests/factories.py), so every other test keeps its
assertions; tests that need it on say so (turn_on)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import Clock
from core.context import RequestContext
from core.db import Database
from core.governance import service as governance
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.models.iam import Bank, Tenant, User, actor_of
from tests.factories import PASSWORD, World, unit_of_work

SECOND_ADMIN = "acme-admin-2"


def with_second_admin(
    db: Database, passwords: Passwords, world: World, clock: Clock, username: str = SECOND_ADMIN
) -> User:
    """acme-admin-2 (or `username`): a corporate admin of acme nobody created through the API
    (as the seed's are)."""
    if username in world.users:
        return world.users[username]

    def build(session: Session, _ctx: RequestContext) -> User:
        acme = world.tenants["acme"]
        user = iam.create_user(
            session,
            passwords,
            bank_id=acme.bank_id,
            tenant_id=acme.id,
            username=username,
            display_name="Acme Second Admin" if username == SECOND_ADMIN else username,
            password=PASSWORD,
            now=clock.now(),
        )
        role = iam.builtin_role(session, "corporate_admin", bank_id=acme.bank_id, tenant_id=acme.id)
        iam.grant_role(session, user, role, now=clock.now())
        session.expunge(user)
        return user

    user = unit_of_work(db, clock).run(build)
    world.users[username] = user
    return user


def with_change_request(db: Database, passwords: Passwords, world: World, clock: Clock) -> int:
    """A change request acme-admin-2 asked for: rename acme-bookkeeper (it gives nobody new
    rights), waiting for a second admin."""
    second = with_second_admin(db, passwords, world, clock)
    ctx = RequestContext(actor=actor_of(second), clock=clock)
    target = {"user_id": world.user_id("acme-bookkeeper")}
    asked = unit_of_work(db, clock).run(
        lambda session, _ctx: governance.request_change(
            session, ctx, "user.update", target, {"display_name": "Acme Books"}
        )
    )
    world.change_request_ids["acme"] = asked.id
    return asked.id


def turn_on(
    db: Database, clock: Clock, *, tenant: Tenant | None = None, bank: bool = False
) -> None:
    """Dual administration on for `tenant`, and with `bank`, dual control for bank managers."""

    def switch(session: Session, _ctx: RequestContext) -> None:
        if tenant is not None:
            row = session.get(Tenant, tenant.id)
            assert row is not None
            row.dual_admin = True
        if bank:
            for each in session.scalars(select(Bank)):
                each.dual_control = True

    unit_of_work(db, clock).run(switch)


def with_second_manager(db: Database, passwords: Passwords, world: World, clock: Clock) -> User:
    """manager-2: a second bank manager (the seed's, created by nobody)."""

    def build(session: Session, _ctx: RequestContext) -> User:
        bank = world.bank
        user = iam.create_user(
            session,
            passwords,
            bank_id=bank.id,  # type: ignore[arg-type]
            tenant_id=None,
            username="manager-2",
            display_name="Second Manager",
            password=PASSWORD,
            now=clock.now(),
        )
        role = iam.builtin_role(session, "bank_manager", bank_id=bank.id, tenant_id=None)  # type: ignore[arg-type]
        iam.grant_role(session, user, role, now=clock.now())
        session.expunge(user)
        return user

    user = unit_of_work(db, clock).run(build)
    world.users["manager-2"] = user
    return user
