"""The tenants, users and built-in roles that everything hangs on: creating them (for
onboarding, the seed and tests), and the API's and the console's operations on them.
Signing in is core.iam.sessions; roles, grants and caps are core.iam.access."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit.changes import record_change
from core.context import RequestContext
from core.db import unique_or
from core.errors import Conflict, InvalidRequest, NotFound
from core.iam.credentials import Passwords
from core.iam.grants import grant_public
from core.iam.schemas import (
    BankPublic,
    BankSettings,
    MePublic,
    PasswordReset,
    PermissionPublic,
    StepUpAmount,
    TenantCreate,
    TenantPublic,
    TenantSettings,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from core.iam.vocabulary import builtin_roles, vocabulary
from core.models.iam import Bank, Grant, Role, Tenant, User
from core.money import format_amount
from core.pagination import Page, PageRequest, paginate
from core.policy.facts import Resource
from core.policy.filters import readable_in_tenant
from core.policy.service import authorize, require_readable, tenant_within_reach

# -- creating the structure (used by onboarding, the seed and tests) -----------------------


def create_bank(session: Session, name: str) -> Bank:
    bank = Bank(name=name)
    session.add(bank)
    session.flush()
    seed_builtin_roles(session, bank_id=bank.id, tenant_id=None)  # type: ignore[arg-type]
    return bank


def create_tenant(session: Session, bank_id: int, name: str, timezone: str) -> Tenant:
    tenant = Tenant(bank_id=bank_id, name=name, timezone=timezone)
    session.add(tenant)
    session.flush()
    seed_builtin_roles(session, bank_id=bank_id, tenant_id=tenant.id)
    return tenant


def seed_builtin_roles(session: Session, *, bank_id: int, tenant_id: int | None) -> list[Role]:
    """The built-in roles of a tenant (or, with tenant_id None, of a bank), as the policy
    lists them in builtin_role/4."""
    level: Literal["bank", "tenant"] = "bank" if tenant_id is None else "tenant"
    roles = [
        Role(
            bank_id=bank_id,
            tenant_id=tenant_id,
            key=builtin.key,
            name=builtin.name,
            description=builtin.description,
            builtin=True,
            level=level,
        )
        for builtin in builtin_roles(level)
    ]
    session.add_all(roles)
    session.flush()
    return roles


def builtin_role(session: Session, key: str, *, bank_id: int, tenant_id: int | None) -> Role:
    stmt = select(Role).where(
        col(Role.bank_id) == bank_id, col(Role.key) == key, col(Role.builtin).is_(True)
    )
    stmt = stmt.where(
        col(Role.tenant_id).is_(None) if tenant_id is None else col(Role.tenant_id) == tenant_id
    )
    role = session.scalar(stmt)
    if role is None:
        raise LookupError(f"no built-in role {key!r}")
    return role


def create_user(
    session: Session,
    passwords: Passwords | None,
    *,
    bank_id: int,
    tenant_id: int | None,
    username: str,
    display_name: str,
    password: str,
    now: dt.datetime,
    password_hash: str | None = None,
    created_by_id: int | None = None,
) -> User:
    """A user; `password_hash` when the password was hashed before (a change request keeps
    the hash, never the password)."""
    user = User(
        username=username.strip().lower(),
        display_name=display_name,
        bank_id=bank_id,
        tenant_id=tenant_id,
        password_hash=password_hash or _hash(passwords, password),
        created_at=now,
        credentials_changed_at=now,
        created_by_id=created_by_id,
    )
    session.add(user)
    session.flush()
    return user


def _hash(passwords: Passwords | None, password: str) -> str:
    if passwords is None:
        raise ValueError("a password needs a hasher, or its hash")
    return passwords.hash(password)


def grant_role(
    session: Session,
    user: User,
    role: Role,
    *,
    created_by: int | None = None,
    now: dt.datetime,
    **conditions: object,
) -> Grant:
    grant = Grant(
        user_id=user.id,  # type: ignore[arg-type]
        role_id=role.id,  # type: ignore[arg-type]
        bank_id=user.bank_id,
        tenant_id=user.tenant_id,
        created_by_id=created_by,
        created_at=now,
        updated_at=now,
        **conditions,  # type: ignore[arg-type]
    )
    session.add(grant)
    session.flush()
    return grant


# -- the API's users and tenants ------------------------------------------------------------


def user_public(user: User) -> UserPublic:
    assert user.id is not None
    return UserPublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        tenant_id=user.tenant_id,
        is_active=user.is_active,
        created_at=user.created_at,
        kind="client" if user.kind == "client" else "person",
    )


def tenant_public(tenant: Tenant) -> TenantPublic:
    assert tenant.id is not None
    return TenantPublic(
        id=tenant.id,
        name=tenant.name,
        timezone=tenant.timezone,
        beneficiary_approval_required=tenant.beneficiary_approval_required,
        new_beneficiary_hours=tenant.new_beneficiary_hours,
        payment_expiry_days=tenant.payment_expiry_days,
        dual_admin=tenant.dual_admin,
        dual_admin_trust_days=tenant.dual_admin_trust_days,
        step_up_minutes=tenant.step_up_minutes,
        step_up_transfer=(
            StepUpAmount(
                currency=tenant.step_up_transfer_currency, amount=tenant.step_up_transfer_amount
            )
            if tenant.step_up_transfer_currency and tenant.step_up_transfer_amount
            else None
        ),
        created_at=tenant.created_at,
    )


def bank_public(bank: Bank) -> BankPublic:
    assert bank.id is not None
    return BankPublic(
        id=bank.id,
        name=bank.name,
        dual_admin_default=bank.dual_admin_default,
        dual_admin_mandatory=bank.dual_admin_mandatory,
        dual_control=bank.dual_control,
        change_request_hours=bank.change_request_hours,
        dual_admin_trust_days=bank.dual_admin_trust_days,
        mfa_required_for_staff_and_admins=bank.mfa_required_for_staff_and_admins,
        step_up_minutes=bank.step_up_minutes,
    )


def me(session: Session, ctx: RequestContext) -> MePublic:
    """Who the caller is, and the grants they hold."""
    actor = ctx.require_actor()
    authorize(session, ctx, "self.read", Resource.of_actor(actor))
    user = session.get(User, actor.user_id)
    assert user is not None
    grants = session.scalars(
        select(Grant)
        .where(col(Grant.user_id) == actor.user_id, col(Grant.revoked_at).is_(None))
        .order_by(col(Grant.id))
    )
    return MePublic(
        **user_public(user).model_dump(exclude={"kind"}),
        kind=actor.kind,
        grants=[grant_public(session, g) for g in grants],
    )


def permission_vocabulary(session: Session, ctx: RequestContext) -> list[PermissionPublic]:
    """The vocabulary, for any signed-in user (the policy's self.read)."""
    actor = ctx.require_actor()
    authorize(session, ctx, "self.read", Resource.of_actor(actor))
    return vocabulary()


def _load_user(session: Session, ctx: RequestContext, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    require_readable(
        session, ctx, "user.read", Resource.of_user(user), not_found=f"user {user_id} not found"
    )
    return user


def get_user(session: Session, ctx: RequestContext, user_id: int) -> UserPublic:
    return user_public(_load_user(session, ctx, user_id))


def list_users(
    session: Session,
    ctx: RequestContext,
    *,
    tenant_id: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page[UserPublic]:
    """The users the caller may see: their company's, or for staff their bank's."""
    page = PageRequest.of(cursor, limit)
    where = readable_in_tenant(
        session, ctx, "user.read", tenant_column=col(User.tenant_id), bank_column=col(User.bank_id)
    )
    stmt = select(User).where(where)
    if tenant_id is not None:
        stmt = stmt.where(col(User.tenant_id) == tenant_id)
    return paginate(session, stmt, col(User.id), page, shape=user_public)


def add_user(
    session: Session, ctx: RequestContext, passwords: Passwords, body: UserCreate
) -> UserPublic:
    """Create a user of the caller's company (bank staff: of a named tenant, or staff)."""
    return add_user_hashed(session, ctx, body, passwords.hash(body.password))


def authorize_new_principal(
    session: Session, ctx: RequestContext, requested_tenant_id: int | None
) -> int | None:
    """The company a new person or API client will belong to (the caller's own, or for staff
    the one asked for, of their bank; None: the bank's own), once the policy lets the caller
    manage its users; 404 for a company out of reach."""
    actor = ctx.require_actor()
    tenant_id = actor.tenant_id if actor.tenant_id is not None else requested_tenant_id
    if actor.tenant_id is not None and requested_tenant_id not in (None, actor.tenant_id):
        raise NotFound(f"tenant {requested_tenant_id} not found")
    if tenant_id is not None:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or tenant.bank_id != actor.bank_id:
            raise NotFound(f"tenant {tenant_id} not found")
    authorize(
        session,
        ctx,
        "user.manage",
        Resource("user", None, tenant_id, actor.bank_id),
        not_found=f"tenant {tenant_id} not found",
    )
    return tenant_id


def add_user_hashed(
    session: Session, ctx: RequestContext, body: UserCreate, password_hash: str
) -> UserPublic:
    """As add_user, with the body's password hashed before (a change request keeps the hash,
    never the password: its body's password is not read)."""
    actor = ctx.require_actor()
    ctx.audit.attempt("user.manage", target=f"new user {body.username}")
    tenant_id = authorize_new_principal(session, ctx, body.tenant_id)
    taken = Conflict(f"the username {body.username!r} is taken", code="username_taken")
    if session.scalar(select(col(User.id)).where(col(User.username) == body.username)) is not None:
        raise taken
    with unique_or(session, taken):
        user = create_user(
            session,
            None,
            bank_id=actor.bank_id,
            tenant_id=tenant_id,
            username=body.username,
            display_name=body.display_name,
            password="",
            now=ctx.now(),
            password_hash=password_hash,
            created_by_id=actor.user_id,
        )
    public = user_public(user)
    record_change(ctx, "user", public.id, "create", tenant_id, after=public)
    ctx.audit.done(f"created user {user.username} ({user.display_name})")
    return public


def update_user(
    session: Session, ctx: RequestContext, user_id: int, body: UserUpdate
) -> UserPublic:
    """Rename, deactivate or reactivate a user. Deactivation ends every session at once."""
    ctx.audit.attempt("user.manage", target=f"user {user_id}")
    user = _load_user(session, ctx, user_id)
    authorize(session, ctx, "user.manage", Resource.of_user(user))
    before = user_public(user)
    if body.display_name is not None:
        user.display_name = body.display_name
    if body.is_active is not None and body.is_active != user.is_active:
        user.is_active = body.is_active
        user.credentials_changed_at = ctx.now()
    session.flush()
    ctx.audit.done(f"changed user {user.username}: {_user_change_words(before, user)}")
    after = user_public(user)
    record_change(ctx, "user", user_id, "update", user.tenant_id, before=before, after=after)
    return after


def reset_password(
    session: Session, ctx: RequestContext, passwords: Passwords, user_id: int, body: PasswordReset
) -> UserPublic:
    """Set a new password; every token issued before stops working."""
    return set_password_hash(session, ctx, user_id, passwords.hash(body.password))


def set_password_hash(
    session: Session, ctx: RequestContext, user_id: int, password_hash: str
) -> UserPublic:
    """As reset_password, with the password hashed before (a change request's). Who reset it
    is kept: they know the password, which ties them to the user (core.policy.ties)."""
    ctx.audit.attempt("user.manage", target=f"password of user {user_id}")
    user = _load_user(session, ctx, user_id)
    authorize(session, ctx, "user.manage", Resource.of_user(user))
    if user.kind == "client":
        raise InvalidRequest(
            "an API client has no password: it authenticates with its key or secret",
            code="client_has_no_password",
        )
    user.password_hash = password_hash
    user.credentials_changed_at = ctx.now()
    user.password_reset_by_id = ctx.require_actor().user_id
    user.password_reset_at = ctx.now()
    session.flush()
    record_change(ctx, "user", user_id, "password_reset", user.tenant_id)
    ctx.audit.done(f"reset the password of {user.username}")
    return user_public(user)


def _user_change_words(before: UserPublic, user: User) -> str:
    parts = []
    if before.display_name != user.display_name:
        parts.append(f"display name {user.display_name}")
    if before.is_active != user.is_active:
        parts.append("reactivated" if user.is_active else "deactivated")
    return ", ".join(parts) or "nothing"


def list_tenants(session: Session, ctx: RequestContext) -> list[TenantPublic]:
    actor = ctx.require_actor()
    require_readable(
        session, ctx, "tenant.read", Resource.of_bank(actor.bank_id), not_found="no tenants"
    )
    tenants = session.scalars(
        select(Tenant).where(col(Tenant.bank_id) == actor.bank_id).order_by(col(Tenant.id))
    )
    return [tenant_public(t) for t in tenants]


def get_tenant(session: Session, ctx: RequestContext, tenant_id: int) -> TenantPublic:
    return tenant_public(tenant_within_reach(session, ctx, tenant_id))


def update_tenant_settings(
    session: Session, ctx: RequestContext, tenant_id: int, body: TenantSettings
) -> TenantPublic:
    """Set a customer's rules for payments: whether a new beneficiary needs a second
    person's approval, how long a beneficiary counts as new, when a waiting payment
    expires, dual administration, and step-up (how recent a code from the authenticator must
    be, and above which amount money moves need it)."""
    ctx.audit.attempt("tenant.manage", target=f"tenant {tenant_id}")
    tenant = tenant_within_reach(session, ctx, tenant_id)
    authorize(session, ctx, "tenant.manage", Resource.of_tenant(tenant_id, tenant.bank_id))
    before = tenant_public(tenant)
    bank = session.get(Bank, tenant.bank_id)
    assert bank is not None
    if body.dual_admin is False and bank.dual_admin_mandatory:
        raise InvalidRequest(
            "the bank makes dual administration mandatory: it cannot be turned off",
            code="dual_admin_mandatory",
        )
    changes = body.model_dump(
        exclude_none=True, exclude={"step_up_transfer", "clear_step_up_transfer"}
    )
    for name, value in changes.items():
        setattr(tenant, name, value)
    if body.step_up_transfer is not None or body.clear_step_up_transfer:
        above = body.step_up_transfer
        tenant.step_up_transfer_currency = above.currency if above else None
        tenant.step_up_transfer_amount = above.amount if above else None
    session.flush()
    after = tenant_public(tenant)
    record_change(ctx, "tenant", tenant_id, "update", tenant_id, before=before, after=after)
    ctx.audit.done(f"changed the payment rules of {tenant.name}: {_settings_words(after)}")
    return after


def _settings_words(tenant: TenantPublic) -> str:
    approval = (
        "new beneficiaries need a second person's approval"
        if tenant.beneficiary_approval_required
        else "new beneficiaries need no approval"
    )
    return (
        f"{approval}, payments to a beneficiary need an approval for "
        f"{tenant.new_beneficiary_hours} hours after it is added, waiting payments expire "
        f"after {tenant.payment_expiry_days} days, "
        + (
            "changes by a corporate admin wait for a second admin"
            if tenant.dual_admin
            else "no dual administration"
        )
        + ", "
        + _step_up_words(tenant.step_up_minutes, tenant.step_up_transfer)
    )


def _step_up_words(minutes: int, above: StepUpAmount | None) -> str:
    if not minutes:
        return "no step-up"
    amount = f", for money above {format_amount(above.amount, above.currency)}" if above else ""
    return f"step-up within {minutes} minutes{amount}"


def get_bank(session: Session, ctx: RequestContext) -> BankPublic:
    """The caller's bank and its rules for change (bank staff)."""
    actor = ctx.require_actor()
    require_readable(
        session, ctx, "tenant.read", Resource.of_bank(actor.bank_id), not_found="not found"
    )
    bank = session.get(Bank, actor.bank_id)
    assert bank is not None
    return bank_public(bank)


def update_bank_settings(session: Session, ctx: RequestContext, body: BankSettings) -> BankPublic:
    """Set the bank's rules for change: dual administration for new customers (and whether
    it is mandatory), dual control over its managers, how long a request waits, for how many
    days its staff's ties count. Making it mandatory turns it on for every customer."""
    actor = ctx.require_actor()
    ctx.audit.attempt("tenant.manage", target="the bank's rules for change")
    resource = Resource.of_bank(actor.bank_id)
    require_readable(session, ctx, "tenant.read", resource, not_found="not found")
    authorize(session, ctx, "tenant.manage", resource)
    bank = session.get(Bank, actor.bank_id)
    assert bank is not None and bank.id is not None
    before = bank_public(bank)
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(bank, name, value)
    if bank.dual_admin_mandatory:
        for tenant in session.scalars(select(Tenant).where(col(Tenant.bank_id) == bank.id)):
            tenant.dual_admin = True
    session.flush()
    after = bank_public(bank)
    record_change(ctx, "bank", bank.id, "update", None, before=before, after=after)
    ctx.audit.done(
        "set the bank's rules for change: "
        + ("dual control over bank managers" if bank.dual_control else "no dual control")
    )
    return after


def onboard_tenant(session: Session, ctx: RequestContext, body: TenantCreate) -> TenantPublic:
    """A new corporate customer, with its built-in roles."""
    actor = ctx.require_actor()
    ctx.audit.attempt("tenant.manage", target=f"new tenant {body.name}")
    authorize(session, ctx, "tenant.manage", Resource.of_bank(actor.bank_id), not_found="not found")
    exists = Conflict(f"a tenant named {body.name!r} exists", code="tenant_exists")
    if session.scalar(
        select(col(Tenant.id)).where(
            col(Tenant.bank_id) == actor.bank_id, col(Tenant.name) == body.name
        )
    ):
        raise exists
    with unique_or(session, exists):
        tenant = create_tenant(session, actor.bank_id, body.name, body.timezone)
    tenant.created_at = ctx.now()
    bank = session.get(Bank, actor.bank_id)
    assert bank is not None
    tenant.dual_admin = bank.dual_admin_default or bank.dual_admin_mandatory
    public = tenant_public(tenant)
    record_change(ctx, "tenant", public.id, "create", public.id, after=public)
    ctx.audit.done(f"onboarded {tenant.name} (time zone {tenant.timezone})")
    return public
