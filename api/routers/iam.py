"""People and companies: who you are, users, tenants, and the permission vocabulary."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import ApiSession, Context, services
from api.errors import MANAGE_REFUSALS, error_responses
from api.params import Cursor, Limit, TenantFilter, TenantId, UserId
from core.iam import service
from core.iam.schemas import (
    MePublic,
    PasswordReset,
    PermissionPublic,
    TenantCreate,
    TenantPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from core.pagination import Page

router = APIRouter(prefix="/v1", tags=["people"])


@router.get(
    "/me",
    response_model=MePublic,
    summary="Who you are, and your grants",
    responses=error_responses(),
)
def me(session: ApiSession, ctx: Context) -> MePublic:
    return service.me(session, ctx)


@router.get(
    "/permissions",
    response_model=list[PermissionPublic],
    summary="The permission vocabulary (from policies/vocabulary.polar)",
    responses=error_responses(),
)
def permissions(session: ApiSession, ctx: Context) -> list[PermissionPublic]:
    return service.permission_vocabulary(session, ctx)


@router.get(
    "/users",
    response_model=Page[UserPublic],
    summary="Users you may see",
    responses=error_responses(),
)
def list_users(
    session: ApiSession,
    ctx: Context,
    tenant_id: TenantFilter = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[UserPublic]:
    return service.list_users(session, ctx, tenant_id=tenant_id, cursor=cursor, limit=limit)


@router.post(
    "/users",
    response_model=UserPublic,
    status_code=201,
    summary="Create a user",
    responses=error_responses(
        *MANAGE_REFUSALS,
        "username_taken",
    ),
)
def create_user(
    request: Request, session: ApiSession, ctx: Context, body: UserCreate
) -> UserPublic:
    return service.add_user(session, ctx, services(request).passwords, body)


@router.get(
    "/users/{user_id}",
    response_model=UserPublic,
    summary="One user",
    responses=error_responses("not_found"),
)
def get_user(session: ApiSession, ctx: Context, user_id: UserId) -> UserPublic:
    return service.get_user(session, ctx, user_id)


@router.patch(
    "/users/{user_id}",
    response_model=UserPublic,
    summary="Rename, deactivate or reactivate a user",
    responses=error_responses(
        *MANAGE_REFUSALS,
    ),
)
def update_user(session: ApiSession, ctx: Context, user_id: UserId, body: UserUpdate) -> UserPublic:
    return service.update_user(session, ctx, user_id, body)


@router.post(
    "/users/{user_id}/password",
    response_model=UserPublic,
    summary="Reset a user's password (ends their sessions)",
    responses=error_responses(
        *MANAGE_REFUSALS,
    ),
)
def reset_password(
    request: Request, session: ApiSession, ctx: Context, user_id: UserId, body: PasswordReset
) -> UserPublic:
    return service.reset_password(session, ctx, services(request).passwords, user_id, body)


@router.get(
    "/tenants",
    response_model=list[TenantPublic],
    summary="Bank staff: the bank's customers",
    responses=error_responses("not_found"),
)
def list_tenants(session: ApiSession, ctx: Context) -> list[TenantPublic]:
    return service.list_tenants(session, ctx)


@router.post(
    "/tenants",
    response_model=TenantPublic,
    status_code=201,
    summary="Bank staff: onboard a corporate customer",
    responses=error_responses(
        "not_found",
        "missing_permission",
        "grant_not_yet_valid",
        "grant_expired",
        "tenant_exists",
        "unknown_time_zone",
    ),
)
def create_tenant(session: ApiSession, ctx: Context, body: TenantCreate) -> TenantPublic:
    return service.onboard_tenant(session, ctx, body)


@router.get(
    "/tenants/{tenant_id}",
    response_model=TenantPublic,
    summary="Bank staff: one customer",
    responses=error_responses("not_found"),
)
def get_tenant(session: ApiSession, ctx: Context, tenant_id: TenantId) -> TenantPublic:
    return service.get_tenant(session, ctx, tenant_id)
