"""Lists, filtered in the database from the same grant facts the policy decides on.

A list holds exactly the rows for which a per-item decision would allow the read
(tests/core/policy/test_list_filters.py holds every list to that, for several roles). Which
roles carry a permission is asked of the policy; the query then keeps the rows reached by a
live grant of such a role: not revoked, inside its validity, of the actor's own tenant (or,
for staff, bank)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import Mapped, Session
from sqlmodel import col

from core.context import Actor, RequestContext
from core.models.iam import Grant, GrantAccount, Role
from core.models.ledger import Account
from core.models.payments import Payment
from core.policy import registry
from core.policy.facts import custom_permissions, role_facts


def carrying_role_ids(session: Session, ctx: RequestContext, permission: str) -> list[int]:
    """The roles the actor holds (through live grants) that carry `permission`."""
    actor = ctx.require_actor()
    ctx.policy_queries += 1
    roles = list(
        session.scalars(
            select(Role).where(
                col(Role.id).in_(
                    select(col(Grant.role_id)).where(
                        col(Grant.user_id) == actor.user_id, col(Grant.revoked_at).is_(None)
                    )
                )
            )
        )
    )
    perms = custom_permissions(session, roles)
    # A customer's lists as their tenant's version decides its items; staff's, the default.
    engine = registry.for_tenant(actor.tenant_id)
    return [
        r.id
        for r in roles
        if r.id is not None and engine.role_carries(role_facts(r, perms.get(r.id, [])), permission)
    ]


def live_grant(actor: Actor, role_ids: list[int], now: dt.datetime) -> ColumnElement[bool]:
    """A grant of the actor, of one of these roles, that speaks for the actor now."""
    home = (
        and_(col(Grant.tenant_id).is_(None), col(Grant.bank_id) == actor.bank_id)
        if actor.is_staff
        else col(Grant.tenant_id) == actor.tenant_id
    )
    return and_(
        col(Grant.user_id) == actor.user_id,
        col(Grant.revoked_at).is_(None),
        col(Grant.role_id).in_(role_ids),
        home,
        or_(col(Grant.valid_from).is_(None), col(Grant.valid_from) <= now),
        or_(col(Grant.valid_until).is_(None), col(Grant.valid_until) > now),
    )


def within_reach(
    actor: Actor, *, tenant_column: Mapped[Any], bank_column: Mapped[Any]
) -> ColumnElement[bool]:
    """SQL condition: the rows of the tenants the actor can reach at all, whatever the
    permission: a customer's own tenant (every grant of theirs is of it); for staff, their
    bank's. Every list below keeps to it, and a lookup by id asks it in its query, before the
    policy decides on the row: another tenant's id is then as absent as one that does not
    exist, on the same path to the same 404 (no answer, and no answer's time, tells them
    apart)."""
    if actor.is_staff:
        return bank_column == actor.bank_id
    return tenant_column == actor.tenant_id


def accounts_within_reach(actor: Actor) -> ColumnElement[bool]:
    """within_reach, on Account."""
    return within_reach(
        actor, tenant_column=col(Account.tenant_id), bank_column=col(Account.bank_id)
    )


def payments_within_reach(actor: Actor) -> ColumnElement[bool]:
    """within_reach, on Payment (a payment is its paying account's tenant's)."""
    return within_reach(
        actor, tenant_column=col(Payment.tenant_id), bank_column=col(Payment.bank_id)
    )


def readable_accounts(
    session: Session, ctx: RequestContext, permission: str = "account.read"
) -> ColumnElement[bool]:
    """SQL condition on Account: the accounts the caller may `permission` now."""
    actor = ctx.require_actor()
    role_ids = carrying_role_ids(session, ctx, permission)
    if not role_ids:
        return false()
    live = live_grant(actor, role_ids, ctx.now())
    reach = accounts_within_reach(actor)
    if actor.is_staff:
        return and_(reach, exists(select(col(Grant.id)).where(live)))
    over_all = exists(select(col(Grant.id)).where(live, col(Grant.all_accounts).is_(True)))
    listed = col(Account.id).in_(
        select(col(GrantAccount.account_id))
        .join(Grant, col(Grant.id) == col(GrantAccount.grant_id))
        .where(live, col(GrantAccount.user_id) == actor.user_id)
    )
    return and_(reach, or_(over_all, listed))


def readable_in_tenant(
    session: Session,
    ctx: RequestContext,
    permission: str,
    *,
    tenant_column: Mapped[int | None],
    bank_column: Mapped[int],
) -> ColumnElement[bool]:
    """SQL condition for tenant-wide lists (users, roles, grants): the rows of the caller's
    tenant if a live grant of theirs carries `permission`; for staff, the rows of their bank."""
    actor = ctx.require_actor()
    role_ids = carrying_role_ids(session, ctx, permission)
    if not role_ids:
        return false()
    live = exists(select(col(Grant.id)).where(live_grant(actor, role_ids, ctx.now())))
    return and_(within_reach(actor, tenant_column=tenant_column, bank_column=bank_column), live)
