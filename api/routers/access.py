"""Who may do what: custom roles, grants (scope, limits, time window, validity) and caps."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.deps import ApiSession, Context
from api.errors import MANAGE_REFUSALS, error_responses
from api.params import Cursor, Flag, GrantId, Limit, RoleId, TenantFilter, TenantId
from core.fields import CurrencyCode
from core.iam import access
from core.iam.schemas import (
    CapPublic,
    CapSet,
    GrantCreate,
    GrantPublic,
    GrantUpdate,
    RoleCreate,
    RolePublic,
    RoleUpdate,
)
from core.pagination import Page

# A grant's conditions, as its body's validators check them (core.iam.schemas).
GRANT_CONDITION_CODES = (
    "invalid_scope",
    "invalid_validity",
    "invalid_window",
    "invalid_time",
    "unknown_time_zone",
    "naive_datetime",
    "unknown_currency",
)

router = APIRouter(prefix="/v1", tags=["access"])

# Checked by the currency validator, so that "eur" gets the hint every currency field gives.
Currency = Annotated[CurrencyCode, Path(description="ISO 4217 code in upper case, e.g. EUR")]


@router.get(
    "/roles",
    response_model=list[RolePublic],
    summary="Roles: built-in ones (from the policy) and your company's custom ones",
    responses=error_responses(),
)
def list_roles(
    session: ApiSession, ctx: Context, tenant_id: TenantFilter = None
) -> list[RolePublic]:
    return access.list_roles(session, ctx, tenant_id=tenant_id)


@router.post(
    "/roles",
    response_model=RolePublic,
    status_code=201,
    summary="Create a custom role: a named set of permissions",
    responses=error_responses(
        *MANAGE_REFUSALS,
        "exceeds_cap",
        "role_exists",
        "invalid_permission",
        "unknown_currency",
    ),
)
def create_role(session: ApiSession, ctx: Context, body: RoleCreate) -> RolePublic:
    return access.create_role(session, ctx, body)


@router.get(
    "/roles/{role_id}",
    response_model=RolePublic,
    summary="One role",
    responses=error_responses("not_found"),
)
def get_role(session: ApiSession, ctx: Context, role_id: RoleId) -> RolePublic:
    return access.get_role(session, ctx, role_id)


@router.patch(
    "/roles/{role_id}",
    response_model=RolePublic,
    summary="Change a custom role",
    responses=error_responses(
        *MANAGE_REFUSALS,
        "exceeds_cap",
        "builtin_role",
        "invalid_permission",
        "unknown_currency",
    ),
)
def update_role(session: ApiSession, ctx: Context, role_id: RoleId, body: RoleUpdate) -> RolePublic:
    return access.update_role(session, ctx, role_id, body)


@router.delete(
    "/roles/{role_id}",
    status_code=204,
    summary="Delete a custom role without grants",
    responses=error_responses(
        *MANAGE_REFUSALS,
        "builtin_role",
        "role_in_use",
    ),
)
def delete_role(session: ApiSession, ctx: Context, role_id: RoleId) -> Response:
    access.delete_role(session, ctx, role_id)
    return Response(status_code=204)


@router.get(
    "/grants",
    response_model=Page[GrantPublic],
    summary="Grants you may see",
    responses=error_responses(),
)
def list_grants(
    session: ApiSession,
    ctx: Context,
    user_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    tenant_id: TenantFilter = None,
    include_revoked: Flag = False,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[GrantPublic]:
    return access.list_grants(
        session,
        ctx,
        user_id=user_id,
        tenant_id=tenant_id,
        include_revoked=include_revoked,
        cursor=cursor,
        limit=limit,
    )


@router.post(
    "/grants",
    response_model=GrantPublic,
    status_code=201,
    summary="Give a user a role, with scope, limits, a time window and validity",
    responses=error_responses(
        *MANAGE_REFUSALS,
        "role_not_assignable",
        "exceeds_cap",
        *GRANT_CONDITION_CODES,
    ),
)
def create_grant(session: ApiSession, ctx: Context, body: GrantCreate) -> GrantPublic:
    return access.create_grant(session, ctx, body)


@router.get(
    "/grants/{grant_id}",
    response_model=GrantPublic,
    summary="One grant",
    responses=error_responses("not_found"),
)
def get_grant(session: ApiSession, ctx: Context, grant_id: GrantId) -> GrantPublic:
    return access.get_grant(session, ctx, grant_id)


@router.patch(
    "/grants/{grant_id}",
    response_model=GrantPublic,
    summary="Change a grant's conditions",
    responses=error_responses(
        *MANAGE_REFUSALS,
        "role_not_assignable",
        "exceeds_cap",
        "grant_revoked",
        *GRANT_CONDITION_CODES,
    ),
)
def update_grant(
    session: ApiSession, ctx: Context, grant_id: GrantId, body: GrantUpdate
) -> GrantPublic:
    return access.update_grant(session, ctx, grant_id, body)


@router.delete(
    "/grants/{grant_id}",
    response_model=GrantPublic,
    summary="Revoke a grant",
    responses=error_responses(
        *MANAGE_REFUSALS,
    ),
)
def revoke_grant(session: ApiSession, ctx: Context, grant_id: GrantId) -> GrantPublic:
    return access.revoke_grant(session, ctx, grant_id)


@router.get(
    "/bank/caps",
    response_model=list[CapPublic],
    summary="The bank's caps: ceilings over every customer's limits",
    responses=error_responses("not_found"),
)
def bank_caps(session: ApiSession, ctx: Context) -> list[CapPublic]:
    return access.list_caps(session, ctx, None)


@router.put(
    "/bank/caps/{currency}",
    response_model=CapPublic,
    summary="Bank manager: set a bank cap",
    responses=error_responses(
        "not_found",
        "missing_permission",
        "grant_not_yet_valid",
        "grant_expired",
        "unknown_currency",
    ),
)
def set_bank_cap(session: ApiSession, ctx: Context, currency: Currency, body: CapSet) -> CapPublic:
    return access.set_cap(session, ctx, None, currency, body)


@router.get(
    "/tenants/{tenant_id}/caps",
    response_model=list[CapPublic],
    summary="A tenant's caps",
    responses=error_responses("not_found"),
)
def tenant_caps(session: ApiSession, ctx: Context, tenant_id: TenantId) -> list[CapPublic]:
    return access.list_caps(session, ctx, tenant_id)


@router.put(
    "/tenants/{tenant_id}/caps/{currency}",
    response_model=CapPublic,
    summary="Bank manager: set a tenant's cap",
    responses=error_responses(
        "not_found",
        "missing_permission",
        "grant_not_yet_valid",
        "grant_expired",
        "unknown_currency",
    ),
)
def set_tenant_cap(
    session: ApiSession, ctx: Context, tenant_id: TenantId, currency: Currency, body: CapSet
) -> CapPublic:
    return access.set_cap(session, ctx, tenant_id, currency, body)
