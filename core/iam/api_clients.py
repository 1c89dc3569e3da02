"""API clients: machines of a customer (an ERP posting payroll, a treasury system reading
balances) or services of the bank, as principals. A client is a `users` row of kind "client"
— so it holds grants (roles, accounts, limits, windows) exactly as a person does, and the
decision and activity logs name it as they name a person — with its credentials beside it
(core.models.oauth.ApiClient). Who may create and disable clients is who may manage users
(user.manage), through the same dual administration (core.governance.operations)."""

from __future__ import annotations

import base64
import json
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.audit.changes import record_change
from core.context import RequestContext
from core.db import unique_or
from core.errors import Conflict, NotFound
from core.iam.api_client_schemas import ApiClientCreate, ApiClientCreated, ApiClientPublic
from core.iam.service import authorize_new_principal, create_user
from core.models.iam import User
from core.models.oauth import ApiClient
from core.pagination import Page, PageRequest, paginate
from core.policy.facts import Resource
from core.policy.filters import readable_in_tenant, within_reach
from core.policy.service import authorize, require_readable

CLIENT_ID_PREFIX = "mcl_"
SECRET_PREFIX = "mcs_"


def new_client_id() -> str:
    """A public client identifier: "mcl_" and 26 lowercase base32 characters (130 bits), a
    valid username for the client's principal."""
    return CLIENT_ID_PREFIX + base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def new_client_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def client_public(client: ApiClient, user: User) -> ApiClientPublic:
    assert user.id is not None
    return ApiClientPublic(
        id=user.id,
        client_id=client.client_id,
        name=user.display_name,
        tenant_id=client.tenant_id,
        auth_method=client.auth_method,
        jwks=json.loads(client.jwks) if client.jwks else None,
        is_active=user.is_active,
        created_at=client.created_at,
        disabled_at=client.disabled_at,
    )


def add_api_client(
    session: Session,
    ctx: RequestContext,
    body: ApiClientCreate,
    *,
    client_id: str,
    secret_hash: str | None,
    secret: str | None = None,
) -> ApiClientCreated:
    """Create an API client of the caller's company (bank staff: of a named tenant, or of the
    bank), as the caller may create a user. Its client_id and its secret's hash were made when
    it was asked (a change request keeps the hash, never the secret); `secret` is shown once,
    to whoever asked, when it applies at once."""
    actor = ctx.require_actor()
    ctx.audit.attempt("user.manage", target=f"new API client {body.name}")
    tenant_id = authorize_new_principal(session, ctx, body.tenant_id)
    taken = Conflict(f"the client id {client_id} is taken", code="username_taken")
    now = ctx.now()
    with unique_or(session, taken):
        user = create_user(
            session,
            None,
            bank_id=actor.bank_id,
            tenant_id=tenant_id,
            username=client_id,
            display_name=body.name,
            password="",
            now=now,
            # No password: a client never signs in with one (core.iam.sessions refuses it).
            password_hash="!",
            created_by_id=actor.user_id,
        )
        user.kind = "client"
        assert user.id is not None
        client = ApiClient(
            client_id=client_id,
            user_id=user.id,
            bank_id=actor.bank_id,
            tenant_id=tenant_id,
            auth_method=body.auth_method,
            jwks=json.dumps(body.jwks, sort_keys=True) if body.jwks is not None else None,
            secret_hash=secret_hash,
            created_by_id=actor.user_id,
            created_at=now,
        )
        session.add(client)
        session.flush()
    public = client_public(client, user)
    record_change(ctx, "user", public.id, "create", tenant_id, after=public)
    ctx.audit.done(f"created API client {body.name} ({client_id}, {body.auth_method})")
    return ApiClientCreated(**public.model_dump(), client_secret=secret)


def _load(session: Session, ctx: RequestContext, principal_id: int) -> tuple[ApiClient, User]:
    missing = f"API client {principal_id} not found"
    # Another company's client is as absent as none: not found by the query, before the
    # policy is asked (core.policy.filters.within_reach).
    reach = within_reach(
        ctx.require_actor(), tenant_column=col(User.tenant_id), bank_column=col(User.bank_id)
    )
    row = session.execute(
        select(ApiClient, User)
        .join(User, col(User.id) == col(ApiClient.user_id))
        .where(col(ApiClient.user_id) == principal_id, reach)
    ).first()
    if row is None:
        raise NotFound(missing)
    client, user = row
    require_readable(session, ctx, "user.read", Resource.of_user(user), not_found=missing)
    return client, user


def get_api_client(session: Session, ctx: RequestContext, principal_id: int) -> ApiClientPublic:
    return client_public(*_load(session, ctx, principal_id))


def list_api_clients(
    session: Session, ctx: RequestContext, *, cursor: str | None = None, limit: int | None = None
) -> Page[ApiClientPublic]:
    """The API clients the caller may see: their company's, or for staff their bank's."""
    page = PageRequest.of(cursor, limit)
    where = readable_in_tenant(
        session, ctx, "user.read", tenant_column=col(User.tenant_id), bank_column=col(User.bank_id)
    )
    stmt = select(ApiClient, User).join(User, col(User.id) == col(ApiClient.user_id)).where(where)
    return paginate(
        session,
        stmt,
        col(ApiClient.user_id),
        page,
        shape=lambda row: client_public(row.ApiClient, row.User),
    )


def disable_api_client(session: Session, ctx: RequestContext, principal_id: int) -> ApiClientPublic:
    """Disable an API client: its tokens stop working at once and it gets no new ones. Its
    grants and its history stay, as a deactivated person's do."""
    ctx.audit.attempt("user.manage", target=f"API client {principal_id}")
    client, user = _load(session, ctx, principal_id)
    authorize(session, ctx, "user.manage", Resource.of_user(user))
    before = client_public(client, user)
    now = ctx.now()
    if client.disabled_at is None:
        client.disabled_at = now
    user.is_active = False
    user.credentials_changed_at = now
    session.flush()
    after = client_public(client, user)
    record_change(ctx, "user", principal_id, "update", user.tenant_id, before=before, after=after)
    ctx.audit.done(f"disabled API client {user.display_name} ({client.client_id})")
    return after
