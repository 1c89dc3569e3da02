"""Sign-in, tokens, and the tenants, users and built-in roles that everything hangs on."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.context import Actor
from core.errors import Unauthenticated
from core.iam.credentials import Passwords, TokenService
from core.iam.models import Bank, Grant, Role, Tenant, User
from core.policy import engine as policy_engine

INVALID_CREDENTIALS = "unknown user or wrong password"


def actor_of(user: User) -> Actor:
    assert user.id is not None
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        bank_id=user.bank_id,
        tenant_id=user.tenant_id,
    )


def authenticate(session: Session, passwords: Passwords, username: str, password: str) -> User:
    """The active user with this username and password. The same error, after the same work,
    whether the user is unknown, inactive or the password wrong."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    valid = passwords.verify(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        raise Unauthenticated(INVALID_CREDENTIALS, code="invalid_credentials")
    return user


def issue_token(
    session: Session,
    passwords: Passwords,
    tokens: TokenService,
    username: str,
    password: str,
    now: dt.datetime,
) -> tuple[str, dt.datetime]:
    user = authenticate(session, passwords, username, password)
    assert user.id is not None
    return tokens.issue(user.id, now)


def actor_from_token(session: Session, tokens: TokenService, token: str, now: dt.datetime) -> Actor:
    claims = tokens.verify(token, now)
    user = session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("the token's user is unknown or deactivated", code="invalid_token")
    # A password reset or deactivation revokes every token issued before it.
    if int(user.credentials_changed_at.timestamp()) > int(claims.issued_at.timestamp()):
        raise Unauthenticated("the token was revoked; sign in again", code="invalid_token")
    return actor_of(user)


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
    level = "bank" if tenant_id is None else "tenant"
    engine = policy_engine.current()
    from oso import Variable

    roles = []
    for answer in engine.query(
        "builtin_role", Variable("key"), level, Variable("name"), Variable("description")
    ):
        role = Role(
            bank_id=bank_id,
            tenant_id=tenant_id,
            key=answer["key"],
            name=answer["name"],
            description=answer["description"],
            builtin=True,
            level=level,
        )
        session.add(role)
        roles.append(role)
    session.flush()
    return roles


def builtin_role(session: Session, key: str, *, bank_id: int, tenant_id: int | None) -> Role:
    stmt = select(Role).where(Role.bank_id == bank_id, Role.key == key, Role.builtin.is_(True))
    stmt = stmt.where(
        Role.tenant_id.is_(None) if tenant_id is None else Role.tenant_id == tenant_id
    )
    role = session.scalar(stmt)
    if role is None:
        raise LookupError(f"no built-in role {key!r}")
    return role


def create_user(
    session: Session,
    passwords: Passwords,
    *,
    bank_id: int,
    tenant_id: int | None,
    username: str,
    display_name: str,
    password: str,
    now: dt.datetime,
) -> User:
    user = User(
        username=username.strip().lower(),
        display_name=display_name,
        bank_id=bank_id,
        tenant_id=tenant_id,
        password_hash=passwords.hash(password),
        created_at=now,
        credentials_changed_at=now,
    )
    session.add(user)
    session.flush()
    return user


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
