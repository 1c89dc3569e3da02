"""Roles: named sets of permissions, with optional limits. Built-in roles are the policy's;
a tenant adds custom roles from the vocabulary. These functions check input, ask the policy,
and record every change."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit.changes import record_change
from core.context import RequestContext
from core.db import unique_or
from core.errors import Conflict, InvalidRequest, NotFound
from core.iam import public
from core.iam.conditions import patched, proposal, set_limits
from core.iam.schemas import RoleCreate, RolePublic, RoleUpdate
from core.iam.vocabulary import builtin_permissions, composable_permissions
from core.iam.wording import role_terms
from core.models.iam import Grant, Role, RolePermission, Tenant
from core.policy.facts import Resource, custom_permissions
from core.policy.filters import readable_in_tenant
from core.policy.service import authorize, require_readable


def role_public(session: Session, role: Role) -> RolePublic:
    assert role.id is not None
    permissions = (
        builtin_permissions(role.key)
        if role.builtin
        else custom_permissions(session, [role]).get(role.id, [])
    )
    return public.role(role, permissions)


def role_key(name: str) -> str:
    """A custom role's key, from its name: "Payroll clerk" is custom_payroll_clerk."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")
    return ("custom_" + "_".join(filter(None, slug.split("_"))))[:64]


def role_resource(session: Session, ctx: RequestContext, role: Role) -> Resource:
    """The role, for the policy: with whether the caller holds it (nobody widens their own
    rights)."""
    actor = ctx.require_actor()
    held = session.scalar(
        select(col(Grant.id)).where(
            col(Grant.role_id) == role.id,
            col(Grant.user_id) == actor.user_id,
            col(Grant.revoked_at).is_(None),
        )
    )
    return Resource(
        "role", role.id, role.tenant_id, role.bank_id, extra=(("held_by_actor", held is not None),)
    )


def load_role(session: Session, ctx: RequestContext, role_id: int) -> Role:
    """The role, if the caller may read it; 404 otherwise."""
    role = session.get(Role, role_id)
    # A deleted role is kept for the record only: for everything else it is not there.
    if role is None or role.deleted_at is not None:
        raise NotFound(f"role {role_id} not found")
    require_readable(
        session,
        ctx,
        "role.read",
        role_resource(session, ctx, role),
        not_found=f"role {role_id} not found",
    )
    return role


def _tenant_for(session: Session, ctx: RequestContext, tenant_id: int | None, what: str) -> Tenant:
    """The tenant an admin action is about: the caller's own, or for staff the one named."""
    actor = ctx.require_actor()
    if actor.tenant_id is not None:
        if tenant_id not in (None, actor.tenant_id):
            raise NotFound(f"tenant {tenant_id} not found")
        tenant_id = actor.tenant_id
    if tenant_id is None:
        raise InvalidRequest(f"bank staff name the tenant ({what}: tenant_id)")
    tenant = session.get(Tenant, tenant_id)
    if tenant is None or tenant.bank_id != actor.bank_id:
        raise NotFound(f"tenant {tenant_id} not found")
    return tenant


def _replace_permissions(session: Session, role: Role, permissions: list[str]) -> None:
    session.execute(delete(RolePermission).where(col(RolePermission.role_id) == role.id))
    session.add_all([RolePermission(role_id=role.id, permission=p) for p in permissions])  # type: ignore[arg-type]


def _custom_role(tenant: Tenant, key: str, body: RoleCreate, now: dt.datetime) -> Role:
    role = Role(
        bank_id=tenant.bank_id,
        tenant_id=tenant.id,
        key=key,
        name=body.name,
        description=body.description,
        builtin=False,
        level="tenant",
        created_at=now,
        updated_at=now,
    )
    set_limits(role, body.limits)
    return role


def list_roles(
    session: Session, ctx: RequestContext, *, tenant_id: int | None = None
) -> list[RolePublic]:
    """The roles the caller may read: built-in first, then custom ones (bank staff see the
    bank's roles unless they name a tenant)."""
    where = readable_in_tenant(
        session, ctx, "role.read", tenant_column=col(Role.tenant_id), bank_column=col(Role.bank_id)
    )
    stmt = (
        select(Role)
        .where(where, col(Role.deleted_at).is_(None))
        .order_by(col(Role.tenant_id).is_(None).desc(), col(Role.id))
    )
    actor = ctx.require_actor()
    if tenant_id is not None:
        stmt = stmt.where(col(Role.tenant_id) == tenant_id)
    elif actor.tenant_id is None:
        stmt = stmt.where(col(Role.tenant_id).is_(None))
    return [role_public(session, r) for r in session.scalars(stmt)]


def get_role(session: Session, ctx: RequestContext, role_id: int) -> RolePublic:
    return role_public(session, load_role(session, ctx, role_id))


def create_role(session: Session, ctx: RequestContext, body: RoleCreate) -> RolePublic:
    """A custom role: a named set of permissions from the vocabulary, with optional limits."""
    ctx.audit.attempt("role.manage", target=f"new role {body.name}")
    tenant = _tenant_for(session, ctx, body.tenant_id, "role")
    assert tenant.id is not None
    permissions = composable_permissions(body.permissions)
    resource = Resource("role", None, tenant.id, tenant.bank_id, extra=(("held_by_actor", False),))
    authorize(
        session,
        ctx,
        "role.manage",
        resource,
        not_found=f"tenant {tenant.id} not found",
        proposal=proposal(body.limits),
    )
    key = role_key(body.name)
    exists = Conflict(f"the tenant already has a role named {body.name!r}", code="role_exists")
    if session.scalar(
        select(col(Role.id)).where(
            col(Role.tenant_id) == tenant.id, col(Role.key) == key, col(Role.deleted_at).is_(None)
        )
    ):
        raise exists
    role = _custom_role(tenant, key, body, ctx.now())
    with unique_or(session, exists):
        session.add(role)
        session.flush()
    session.add_all([RolePermission(role_id=role.id, permission=p) for p in permissions])  # type: ignore[arg-type]
    session.flush()
    after = role_public(session, role)
    record_change(ctx, "role", after.id, "create", tenant.id, after=after)
    ctx.audit.done(f"created the role {after.name} for {tenant.name}: {role_terms(after)}")
    return after


def update_role(
    session: Session, ctx: RequestContext, role_id: int, body: RoleUpdate
) -> RolePublic:
    """Rename a custom role, or change its permissions or limits (built-in roles are the
    policy's)."""
    ctx.audit.attempt("role.manage", target=f"role {role_id}")
    role = load_role(session, ctx, role_id)
    before = role_public(session, role)
    limits = patched(body.limits, body.clear_limits, before.limits)
    authorize(
        session, ctx, "role.manage", role_resource(session, ctx, role), proposal=proposal(limits)
    )
    if role.builtin:
        raise Conflict(
            "built-in roles are defined by the policy and cannot be changed", code="builtin_role"
        )
    role.name = body.name if body.name is not None else role.name
    role.description = body.description if body.description is not None else role.description
    if body.limits is not None or body.clear_limits:
        set_limits(role, limits)
    if body.permissions is not None:
        _replace_permissions(session, role, composable_permissions(body.permissions))
    role.updated_at = ctx.now()
    session.flush()
    after = role_public(session, role)
    record_change(ctx, "role", role_id, "update", role.tenant_id, before=before, after=after)
    ctx.audit.done(f"changed the role {after.name}: {role_terms(after)}")
    return after


def delete_role(session: Session, ctx: RequestContext, role_id: int) -> None:
    """Delete a custom role no live grant uses."""
    ctx.audit.attempt("role.manage", target=f"role {role_id}")
    role = load_role(session, ctx, role_id)
    authorize(
        session, ctx, "role.manage", role_resource(session, ctx, role), proposal=proposal(None)
    )
    if role.builtin:
        raise Conflict("built-in roles cannot be deleted", code="builtin_role")
    if session.scalar(
        select(col(Grant.id)).where(col(Grant.role_id) == role.id, col(Grant.revoked_at).is_(None))
    ):
        raise Conflict("revoke the grants of this role first", code="role_in_use")
    before = role_public(session, role)
    # Revoked grants, the change log and old decisions keep naming the role: the row stays,
    # marked deleted, and is gone for reads, changes, grants, lists and the policy.
    role.deleted_at = ctx.now()
    role.updated_at = ctx.now()
    session.flush()
    record_change(ctx, "role", role_id, "delete", before.tenant_id, before=before)
    ctx.audit.done(f"deleted the role {before.name}")
