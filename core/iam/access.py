"""Roles, grants and caps: who may do what, for how much, and when. What they mean is in
policies/; these functions check input, ask the policy, and record every change."""

from __future__ import annotations

import datetime as dt

from oso import Variable
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit.changes import record_change
from core.clock import DAY_NAMES
from core.context import RequestContext
from core.db import unique_or
from core.errors import Conflict, InvalidRequest, NotFound
from core.iam.schemas import (
    CapPublic,
    CapSet,
    GrantCreate,
    GrantPublic,
    GrantUpdate,
    LimitSet,
    PermissionPublic,
    RoleCreate,
    RolePublic,
    RoleUpdate,
    TimeWindow,
)
from core.iam.wording import cap_terms, grant_terms, role_terms
from core.models.iam import Grant, GrantAccount, LimitCap, Role, RolePermission, Tenant, User
from core.models.ledger import Account
from core.money import is_currency, unknown_currency
from core.pagination import Page, PageRequest, paginate
from core.policy import engine as policy_engine
from core.policy.facts import Proposal, Resource, custom_permissions
from core.policy.filters import readable_in_tenant
from core.policy.reasons import clock_time
from core.policy.service import authorize, require_readable

# -- the vocabulary -------------------------------------------------------------------------


def vocabulary() -> list[PermissionPublic]:
    """Every permission, as policies/vocabulary.polar defines it."""
    engine = policy_engine.current()
    answers = engine.query("permission", Variable("name"), Variable("level"), Variable("text"))
    return [
        PermissionPublic(
            name=a["name"],
            level=a["level"],
            description=a["text"],
            composable=engine.holds("composable", a["name"]),
        )
        for a in answers
    ]


def builtin_permissions(key: str) -> list[str]:
    engine = policy_engine.current()
    return sorted(a["p"] for a in engine.query("builtin_carries", key, Variable("p")))


# -- roles ----------------------------------------------------------------------------------


def _limits_public(obj: Role | Grant) -> LimitSet | None:
    if obj.limit_currency is None:
        return None
    return LimitSet(
        currency=obj.limit_currency,
        per_transfer=obj.per_transfer_limit,
        daily=obj.daily_limit,
        monthly=obj.monthly_limit,
    )


def role_public(session: Session, role: Role) -> RolePublic:
    assert role.id is not None
    permissions = (
        builtin_permissions(role.key)
        if role.builtin
        else custom_permissions(session, [role]).get(role.id, [])
    )
    return RolePublic(
        id=role.id,
        tenant_id=role.tenant_id,
        key=role.key,
        name=role.name,
        description=role.description,
        builtin=role.builtin,
        level=role.level,
        permissions=permissions,
        limits=_limits_public(role),
    )


def _role_resource(session: Session, ctx: RequestContext, role: Role) -> Resource:
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


def _load_role(session: Session, ctx: RequestContext, role_id: int) -> Role:
    role = session.get(Role, role_id)
    # A deleted role is kept for the record only: for everything else it is not there.
    if role is None or role.deleted_at is not None:
        raise NotFound(f"role {role_id} not found")
    require_readable(
        session,
        ctx,
        "role.read",
        _role_resource(session, ctx, role),
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


def _check_permissions(permissions: list[str]) -> list[str]:
    engine = policy_engine.current()
    unknown = [p for p in permissions if not engine.holds("composable", p)]
    if unknown:
        raise InvalidRequest(
            f"not permissions a custom role can carry: {', '.join(sorted(unknown))} "
            "(see GET /v1/permissions)",
            code="invalid_permission",
        )
    return sorted(set(permissions))


def _proposal(limits: LimitSet | None) -> Proposal:
    if limits is None:
        return Proposal(currency="")
    return Proposal(limits.currency, limits.per_transfer, limits.daily, limits.monthly)


def list_roles(
    session: Session, ctx: RequestContext, *, tenant_id: int | None = None
) -> list[RolePublic]:
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
    return role_public(session, _load_role(session, ctx, role_id))


def create_role(session: Session, ctx: RequestContext, body: RoleCreate) -> RolePublic:
    """A custom role: a named set of permissions from the vocabulary, with optional limits."""
    ctx.audit.attempt("role.manage", target=f"new role {body.name}")
    tenant = _tenant_for(session, ctx, body.tenant_id, "role")
    assert tenant.id is not None
    permissions = _check_permissions(body.permissions)
    resource = Resource("role", None, tenant.id, tenant.bank_id, extra=(("held_by_actor", False),))
    authorize(
        session,
        ctx,
        "role.manage",
        resource,
        not_found=f"tenant {tenant.id} not found",
        proposal=_proposal(body.limits),
    )
    key = _slug(body.name)
    exists = Conflict(f"the tenant already has a role named {body.name!r}", code="role_exists")
    if session.scalar(
        select(col(Role.id)).where(
            col(Role.tenant_id) == tenant.id, col(Role.key) == key, col(Role.deleted_at).is_(None)
        )
    ):
        raise exists
    now = ctx.now()
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
    _set_limits(role, body.limits)
    with unique_or(session, exists):
        session.add(role)
        session.flush()
    session.add_all([RolePermission(role_id=role.id, permission=p) for p in permissions])  # type: ignore[arg-type]
    session.flush()
    public = role_public(session, role)
    record_change(ctx, "role", public.id, "create", tenant.id, after=public)
    ctx.audit.done(f"created the role {public.name} for {tenant.name}: {role_terms(public)}")
    return public


def update_role(
    session: Session, ctx: RequestContext, role_id: int, body: RoleUpdate
) -> RolePublic:
    ctx.audit.attempt("role.manage", target=f"role {role_id}")
    role = _load_role(session, ctx, role_id)
    before = role_public(session, role)
    limits = (
        body.limits if body.limits is not None else (None if body.clear_limits else before.limits)
    )
    authorize(
        session,
        ctx,
        "role.manage",
        _role_resource(session, ctx, role),
        proposal=_proposal(limits),
    )
    if role.builtin:
        raise Conflict(
            "built-in roles are defined by the policy and cannot be changed", code="builtin_role"
        )
    if body.name is not None:
        role.name = body.name
    if body.description is not None:
        role.description = body.description
    if body.limits is not None or body.clear_limits:
        _set_limits(role, body.limits)
    if body.permissions is not None:
        permissions = _check_permissions(body.permissions)
        session.execute(delete(RolePermission).where(col(RolePermission.role_id) == role.id))
        session.add_all([RolePermission(role_id=role.id, permission=p) for p in permissions])  # type: ignore[arg-type]
    role.updated_at = ctx.now()
    session.flush()
    after = role_public(session, role)
    record_change(ctx, "role", role_id, "update", role.tenant_id, before=before, after=after)
    ctx.audit.done(f"changed the role {after.name}: {role_terms(after)}")
    return after


def delete_role(session: Session, ctx: RequestContext, role_id: int) -> None:
    ctx.audit.attempt("role.manage", target=f"role {role_id}")
    role = _load_role(session, ctx, role_id)
    authorize(
        session, ctx, "role.manage", _role_resource(session, ctx, role), proposal=_proposal(None)
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


def _slug(name: str) -> str:
    slug = "".join(ch if ch.isalnum() else "_" for ch in name.lower()).strip("_")
    return ("custom_" + "_".join(filter(None, slug.split("_"))))[:64]


def _set_limits(obj: Role | Grant, limits: LimitSet | None) -> None:
    obj.limit_currency = limits.currency if limits else None
    obj.per_transfer_limit = limits.per_transfer if limits else None
    obj.daily_limit = limits.daily if limits else None
    obj.monthly_limit = limits.monthly if limits else None


# -- grants ---------------------------------------------------------------------------------


def grant_public(session: Session, grant: Grant, role: Role | None = None) -> GrantPublic:
    assert grant.id is not None
    role = role or session.get(Role, grant.role_id)
    assert role is not None
    account_ids = sorted(
        session.scalars(
            select(col(GrantAccount.account_id)).where(col(GrantAccount.grant_id) == grant.id)
        )
    )
    window = None
    if grant.window_days is not None:
        window = TimeWindow(
            days=[DAY_NAMES[int(d)] for d in grant.window_days],
            start=clock_time(grant.window_start or 0),
            end=clock_time(grant.window_end or 0),
            time_zone=grant.window_zone or "UTC",
        )
    return GrantPublic(
        id=grant.id,
        user_id=grant.user_id,
        role_id=grant.role_id,
        role_key=role.key,
        role_name=role.name,
        tenant_id=grant.tenant_id,
        all_accounts=grant.all_accounts,
        account_ids=account_ids,
        limits=_limits_public(grant),
        window=window,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        created_by=grant.created_by_id,
        created_at=grant.created_at,
        revoked_at=grant.revoked_at,
    )


def _grant_resource(grant_id: int | None, grantee: User, role: Role) -> Resource:
    return Resource(
        "grant",
        grant_id,
        grantee.tenant_id,
        grantee.bank_id,
        extra=(
            ("grantee", grantee.id),
            ("role_level", role.level),
            # A bank role belongs to no tenant: then the fact is left out.
            *((("role_tenant", role.tenant_id),) if role.tenant_id is not None else ()),
        ),
    )


def _load_grant(session: Session, ctx: RequestContext, grant_id: int) -> tuple[Grant, User, Role]:
    grant = session.get(Grant, grant_id)
    missing = NotFound(f"grant {grant_id} not found")
    if grant is None:
        raise missing
    grantee = session.get(User, grant.user_id)
    role = session.get(Role, grant.role_id)
    assert grantee is not None and role is not None
    require_readable(
        session,
        ctx,
        "grant.read",
        _grant_resource(grant.id, grantee, role),
        not_found=f"grant {grant_id} not found",
    )
    return grant, grantee, role


def _check_accounts(session: Session, grantee: User, account_ids: list[int]) -> list[int]:
    ids = sorted(set(account_ids))
    if not ids:
        return ids
    found = set(
        session.scalars(
            select(col(Account.id)).where(
                col(Account.id).in_(ids),
                col(Account.tenant_id) == grantee.tenant_id,
                col(Account.kind) == "customer",
            )
        )
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidRequest(
            f"not accounts of the user's company: {', '.join(map(str, missing))}",
            code="invalid_scope",
        )
    return ids


def _apply_conditions(
    grant: Grant,
    *,
    limits: LimitSet | None,
    window: TimeWindow | None,
    valid_from: dt.datetime | None,
    valid_until: dt.datetime | None,
) -> None:
    _set_limits(grant, limits)
    if window is None:
        grant.window_days = grant.window_start = grant.window_end = grant.window_zone = None
    else:
        grant.window_days = "".join(
            str(DAY_NAMES.index(d)) for d in sorted(set(window.days), key=DAY_NAMES.index)
        )
        grant.window_start = TimeWindow.minutes(window.start)
        grant.window_end = TimeWindow.minutes(window.end)
        grant.window_zone = window.time_zone
    grant.valid_from = valid_from
    grant.valid_until = valid_until


def _set_scope(
    session: Session, grant: Grant, grantee: User, all_accounts: bool, account_ids: list[int]
) -> None:
    ids = _check_accounts(session, grantee, account_ids)
    grant.all_accounts = all_accounts
    session.execute(delete(GrantAccount).where(col(GrantAccount.grant_id) == grant.id))
    session.add_all(
        [GrantAccount(grant_id=grant.id, account_id=i, user_id=grantee.id) for i in ids]  # type: ignore[arg-type]
    )


def create_grant(session: Session, ctx: RequestContext, body: GrantCreate) -> GrantPublic:
    """Give a user a role, over all or listed accounts, with limits, a window and validity."""
    ctx.audit.attempt("grant.manage", target=f"user {body.user_id}")
    grantee = session.get(User, body.user_id)
    role = session.get(Role, body.role_id)
    if grantee is None:
        raise NotFound(f"user {body.user_id} not found")
    require_readable(
        session,
        ctx,
        "user.read",
        Resource.of_user(grantee),
        not_found=f"user {body.user_id} not found",
    )
    if role is None or role.bank_id != grantee.bank_id or role.deleted_at is not None:
        raise NotFound(f"role {body.role_id} not found")
    # A role the caller cannot read is not there, before the policy is asked whether it may
    # be given (which would tell that it exists).
    require_readable(
        session,
        ctx,
        "role.read",
        _role_resource(session, ctx, role),
        not_found=f"role {body.role_id} not found",
    )
    authorize(
        session,
        ctx,
        "grant.manage",
        _grant_resource(None, grantee, role),
        not_found=f"user {body.user_id} not found",
        proposal=_proposal(body.limits),
    )
    now = ctx.now()
    grant = Grant(
        user_id=grantee.id,  # type: ignore[arg-type]
        role_id=role.id,  # type: ignore[arg-type]
        bank_id=grantee.bank_id,
        tenant_id=grantee.tenant_id,
        created_by_id=ctx.require_actor().user_id,
        created_at=now,
        updated_at=now,
    )
    _apply_conditions(
        grant,
        limits=body.limits,
        window=body.window,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
    )
    session.add(grant)
    session.flush()
    _set_scope(session, grant, grantee, body.all_accounts, body.account_ids)
    session.flush()
    public = grant_public(session, grant, role)
    record_change(ctx, "grant", public.id, "create", grantee.tenant_id, after=public)
    ctx.audit.done(f"gave {grantee.username} the role {public.role_name} {grant_terms(public)}")
    return public


def update_grant(
    session: Session, ctx: RequestContext, grant_id: int, body: GrantUpdate
) -> GrantPublic:
    ctx.audit.attempt("grant.manage", target=f"grant {grant_id}")
    grant, grantee, role = _load_grant(session, ctx, grant_id)
    before = grant_public(session, grant, role)
    limits = (
        body.limits if body.limits is not None else (None if body.clear_limits else before.limits)
    )
    authorize(
        session,
        ctx,
        "grant.manage",
        _grant_resource(grant.id, grantee, role),
        proposal=_proposal(limits),
    )
    if grant.revoked_at is not None:
        raise Conflict("the grant is revoked; create a new one", code="grant_revoked")
    window = (
        body.window if body.window is not None else (None if body.clear_window else before.window)
    )
    valid_from = (
        body.valid_from
        if body.valid_from is not None
        else (None if body.clear_validity else grant.valid_from)
    )
    valid_until = (
        body.valid_until
        if body.valid_until is not None
        else (None if body.clear_validity else grant.valid_until)
    )
    if valid_from is not None and valid_until is not None and valid_from >= valid_until:
        raise InvalidRequest("valid_from must be before valid_until", code="invalid_validity")
    _apply_conditions(
        grant, limits=limits, window=window, valid_from=valid_from, valid_until=valid_until
    )
    if body.all_accounts is not None or body.account_ids is not None:
        all_accounts = body.all_accounts if body.all_accounts is not None else grant.all_accounts
        account_ids = (
            body.account_ids
            if body.account_ids is not None
            else ([] if all_accounts else before.account_ids)
        )
        if all_accounts and account_ids:
            raise InvalidRequest(
                "give account_ids only with all_accounts false", code="invalid_scope"
            )
        if not all_accounts and not account_ids:
            raise InvalidRequest(
                "a grant over listed accounts needs account_ids", code="invalid_scope"
            )
        _set_scope(session, grant, grantee, all_accounts, account_ids)
    grant.updated_at = ctx.now()
    session.flush()
    after = grant_public(session, grant, role)
    record_change(ctx, "grant", grant_id, "update", grant.tenant_id, before=before, after=after)
    ctx.audit.done(f"changed grant {grant_id} of {grantee.username}: {grant_terms(after)}")
    return after


def revoke_grant(session: Session, ctx: RequestContext, grant_id: int) -> GrantPublic:
    ctx.audit.attempt("grant.manage", target=f"grant {grant_id}")
    grant, grantee, role = _load_grant(session, ctx, grant_id)
    authorize(
        session,
        ctx,
        "grant.manage",
        _grant_resource(grant.id, grantee, role),
        proposal=_proposal(None),
    )
    if grant.revoked_at is None:
        before = grant_public(session, grant, role)
        grant.revoked_at = ctx.now()
        grant.revoked_by_id = ctx.require_actor().user_id
        session.flush()
        record_change(ctx, "grant", grant_id, "revoke", grant.tenant_id, before=before)
    ctx.audit.done(f"revoked grant {grant_id}: {grantee.username} as {role.name}")
    return grant_public(session, grant, role)


def get_grant(session: Session, ctx: RequestContext, grant_id: int) -> GrantPublic:
    grant, _, role = _load_grant(session, ctx, grant_id)
    return grant_public(session, grant, role)


def list_grants(
    session: Session,
    ctx: RequestContext,
    *,
    user_id: int | None = None,
    tenant_id: int | None = None,
    include_revoked: bool = False,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[GrantPublic]:
    page = PageRequest.of(cursor, limit)
    where = readable_in_tenant(
        session,
        ctx,
        "grant.read",
        tenant_column=col(Grant.tenant_id),
        bank_column=col(Grant.bank_id),
    )
    stmt = select(Grant, Role).join(Role, col(Role.id) == col(Grant.role_id)).where(where)
    if user_id is not None:
        stmt = stmt.where(col(Grant.user_id) == user_id)
    if tenant_id is not None:
        stmt = stmt.where(col(Grant.tenant_id) == tenant_id)
    if not include_revoked:
        stmt = stmt.where(col(Grant.revoked_at).is_(None))
    return paginate(
        session,
        stmt,
        col(Grant.id),
        page,
        shape=lambda row: grant_public(session, row.Grant, row.Role),
    )


# -- caps -----------------------------------------------------------------------------------


def _cap_public(cap: LimitCap) -> CapPublic:
    return CapPublic(
        level="bank" if cap.tenant_id is None else "tenant",
        tenant_id=cap.tenant_id,
        currency=cap.currency,
        per_transfer=cap.per_transfer_limit,
        daily=cap.daily_limit,
        monthly=cap.monthly_limit,
        updated_at=cap.updated_at,
    )


def _caps_resource(session: Session, ctx: RequestContext, tenant_id: int | None) -> Resource:
    actor = ctx.require_actor()
    if tenant_id is None:
        return Resource.of_bank(actor.bank_id)
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return Resource.of_tenant(tenant_id, tenant.bank_id)


def _caps_missing(tenant_id: int | None) -> str:
    # The bank's caps have no tenant to name (not "tenant None").
    return "not found" if tenant_id is None else f"tenant {tenant_id} not found"


def list_caps(session: Session, ctx: RequestContext, tenant_id: int | None) -> list[CapPublic]:
    """The bank's caps (tenant_id None) or a tenant's: the ceilings over every grant's limits."""
    resource = _caps_resource(session, ctx, tenant_id)
    require_readable(session, ctx, "cap.read", resource, not_found=_caps_missing(tenant_id))
    stmt = (
        select(LimitCap)
        .where(col(LimitCap.bank_id) == resource.bank_id)
        .order_by(col(LimitCap.currency))
    )
    stmt = stmt.where(
        col(LimitCap.tenant_id).is_(None)
        if tenant_id is None
        else col(LimitCap.tenant_id) == tenant_id
    )
    return [_cap_public(c) for c in session.scalars(stmt)]


def set_cap(
    session: Session, ctx: RequestContext, tenant_id: int | None, currency: str, body: CapSet
) -> CapPublic:
    ctx.audit.attempt(
        "cap.manage",
        target=f"caps {currency} of {'bank' if tenant_id is None else f'tenant {tenant_id}'}",
    )
    if not is_currency(currency):
        raise InvalidRequest(unknown_currency(currency), code="unknown_currency")
    resource = _caps_resource(session, ctx, tenant_id)
    require_readable(session, ctx, "cap.read", resource, not_found=_caps_missing(tenant_id))
    authorize(session, ctx, "cap.manage", resource)
    stmt = select(LimitCap).where(
        col(LimitCap.bank_id) == resource.bank_id, col(LimitCap.currency) == currency
    )
    stmt = stmt.where(
        col(LimitCap.tenant_id).is_(None)
        if tenant_id is None
        else col(LimitCap.tenant_id) == tenant_id
    )
    cap = session.scalar(stmt)
    before = _cap_public(cap) if cap else None
    if cap is None:
        cap = LimitCap(bank_id=resource.bank_id, tenant_id=tenant_id, currency=currency)
        session.add(cap)
    cap.per_transfer_limit = body.per_transfer
    cap.daily_limit = body.daily
    cap.monthly_limit = body.monthly
    cap.updated_by_id = ctx.require_actor().user_id
    cap.updated_at = ctx.now()
    session.flush()
    public = _cap_public(cap)
    assert cap.id is not None
    change = "create" if before is None else "update"
    record_change(ctx, "cap", cap.id, change, tenant_id, before=before, after=public)
    whose = "the bank's" if tenant_id is None else f"tenant {tenant_id}'s"
    ctx.audit.done(f"set {whose} {currency} caps: {cap_terms(public)}")
    return public
