"""Grants: a user holds a role over all of the tenant's accounts or a list of them, with
limits, a time window and a validity. What they mean is in policies/; these functions check
input, ask the policy, and record every change."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit.changes import record_change
from core.context import RequestContext
from core.errors import Conflict, InvalidRequest, NotFound
from core.iam import public
from core.iam.conditions import (
    ApprovalTerms,
    GrantConditions,
    GrantScope,
    check_approval,
    patched,
    patched_conditions,
    patched_scope,
    proposal,
    set_conditions,
)
from core.iam.roles import role_public, role_resource
from core.iam.schemas import GrantCreate, GrantPublic, GrantUpdate
from core.iam.wording import grant_terms
from core.models.iam import Grant, GrantAccount, Role, User
from core.models.ledger import Account
from core.pagination import Page, PageRequest, paginate
from core.policy.facts import Resource
from core.policy.filters import readable_in_tenant
from core.policy.service import authorize, require_readable


def grant_public(session: Session, grant: Grant, role: Role | None = None) -> GrantPublic:
    """The grant as the API shows it (`role`: its role, if the caller has it at hand)."""
    role = role or session.get(Role, grant.role_id)
    assert role is not None
    account_ids = sorted(
        session.scalars(
            select(col(GrantAccount.account_id)).where(col(GrantAccount.grant_id) == grant.id)
        )
    )
    return public.grant(grant, role, account_ids)


def grant_resource(grant_id: int | None, grantee: User, role: Role) -> Resource:
    """The grant, for the policy: whose it is and what level of role it gives."""
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
    if grant is None:
        raise NotFound(f"grant {grant_id} not found")
    grantee = session.get(User, grant.user_id)
    role = session.get(Role, grant.role_id)
    assert grantee is not None and role is not None
    require_readable(
        session,
        ctx,
        "grant.read",
        grant_resource(grant.id, grantee, role),
        not_found=f"grant {grant_id} not found",
    )
    return grant, grantee, role


def _load_grantee_and_role(
    session: Session, ctx: RequestContext, body: GrantCreate
) -> tuple[User, Role]:
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
        role_resource(session, ctx, role),
        not_found=f"role {body.role_id} not found",
    )
    return grantee, role


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


def _set_scope(session: Session, grant: Grant, grantee: User, scope: GrantScope) -> None:
    ids = _check_accounts(session, grantee, scope.account_ids)
    grant.all_accounts = scope.all_accounts
    session.execute(delete(GrantAccount).where(col(GrantAccount.grant_id) == grant.id))
    session.add_all(
        [GrantAccount(grant_id=grant.id, account_id=i, user_id=grantee.id) for i in ids]  # type: ignore[arg-type]
    )


def create_grant(session: Session, ctx: RequestContext, body: GrantCreate) -> GrantPublic:
    """Give a user a role, over all or listed accounts, with limits, a window and validity,
    and for an approver a signature group and an approval limit."""
    ctx.audit.attempt("grant.manage", target=f"user {body.user_id}")
    grantee, role = _load_grantee_and_role(session, ctx, body)
    authorize(
        session,
        ctx,
        "grant.manage",
        grant_resource(None, grantee, role),
        not_found=f"user {body.user_id} not found",
        proposal=proposal(body.limits),
    )
    approval = ApprovalTerms(body.approval_group, body.approval_limit, body.approval_daily_limit)
    conditions = GrantConditions(
        body.limits, body.window, body.valid_from, body.valid_until, approval
    )
    check_approval(conditions, approval, role.name, role_public(session, role).permissions)
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
    set_conditions(grant, conditions)
    session.add(grant)
    session.flush()
    _set_scope(session, grant, grantee, GrantScope(body.all_accounts, body.account_ids))
    session.flush()
    after = grant_public(session, grant, role)
    record_change(ctx, "grant", after.id, "create", grantee.tenant_id, after=after)
    ctx.audit.done(f"gave {grantee.username} the role {after.role_name} {grant_terms(after)}")
    return after


def update_grant(
    session: Session, ctx: RequestContext, grant_id: int, body: GrantUpdate
) -> GrantPublic:
    """Change a grant's scope or conditions; what the patch leaves out stays as it is."""
    ctx.audit.attempt("grant.manage", target=f"grant {grant_id}")
    grant, grantee, role = _load_grant(session, ctx, grant_id)
    before = grant_public(session, grant, role)
    limits = patched(body.limits, body.clear_limits, before.limits)
    authorize(
        session,
        ctx,
        "grant.manage",
        grant_resource(grant.id, grantee, role),
        proposal=proposal(limits),
    )
    if grant.revoked_at is not None:
        raise Conflict("the grant is revoked; create a new one", code="grant_revoked")
    conditions = patched_conditions(before, body)
    given = ApprovalTerms(body.approval_group, body.approval_limit, body.approval_daily_limit)
    check_approval(conditions, given, role.name, role_public(session, role).permissions)
    scope = patched_scope(before, body)
    set_conditions(grant, conditions)
    if scope is not None:
        _set_scope(session, grant, grantee, scope)
    grant.updated_at = ctx.now()
    session.flush()
    after = grant_public(session, grant, role)
    record_change(ctx, "grant", grant_id, "update", grant.tenant_id, before=before, after=after)
    ctx.audit.done(f"changed grant {grant_id} of {grantee.username}: {grant_terms(after)}")
    return after


def revoke_grant(session: Session, ctx: RequestContext, grant_id: int) -> GrantPublic:
    """End a grant now (revoking a revoked grant changes nothing)."""
    ctx.audit.attempt("grant.manage", target=f"grant {grant_id}")
    grant, grantee, role = _load_grant(session, ctx, grant_id)
    authorize(
        session,
        ctx,
        "grant.manage",
        grant_resource(grant.id, grantee, role),
        proposal=proposal(None),
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
    """The grants the caller may read, oldest first; revoked ones on request."""
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
