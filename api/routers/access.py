"""Who may do what: custom roles, grants (scope, limits, time window, validity) and caps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from api.deps import ApiUnit
from api.errors import MANAGE_REFUSALS, POLICY_REFUSALS, error_responses
from api.governed import REQUESTED, governed
from api.params import Cursor, Flag, GrantId, Limit, RoleId, TenantFilter, TenantId
from core.fields import MAX_ID, CurrencyCode
from core.governance import operations
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
    "date_out_of_range",
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
def list_roles(uow: ApiUnit, tenant_id: TenantFilter = None) -> list[RolePublic]:
    return uow.run(access.list_roles, tenant_id=tenant_id)


@router.post(
    "/roles",
    response_model=RolePublic,
    status_code=201,
    summary="Create a custom role: a named set of permissions",
    responses={
        **REQUESTED,
        **error_responses(
            *MANAGE_REFUSALS,
            "exceeds_cap",
            "role_exists",
            "invalid_permission",
            "unknown_currency",
        ),
    },
)
def create_role(uow: ApiUnit, body: RoleCreate) -> Any:
    return governed(uow, None, operations.create_role, body)


@router.get(
    "/roles/{role_id}",
    response_model=RolePublic,
    summary="One role",
    responses=error_responses("not_found"),
)
def get_role(uow: ApiUnit, role_id: RoleId) -> RolePublic:
    return uow.run(access.get_role, role_id)


@router.patch(
    "/roles/{role_id}",
    response_model=RolePublic,
    summary="Change a custom role",
    responses={
        **REQUESTED,
        **error_responses(
            *MANAGE_REFUSALS,
            "exceeds_cap",
            "builtin_role",
            "invalid_permission",
            "unknown_currency",
        ),
    },
)
def update_role(uow: ApiUnit, role_id: RoleId, body: RoleUpdate) -> Any:
    return governed(uow, None, operations.update_role, role_id, body)


@router.delete(
    "/roles/{role_id}",
    status_code=204,
    summary="Delete a custom role without grants",
    responses={
        **REQUESTED,
        **error_responses(
            *MANAGE_REFUSALS,
            "builtin_role",
            "role_in_use",
        ),
    },
)
def delete_role(uow: ApiUnit, role_id: RoleId) -> Response:
    return governed(uow, 204, operations.delete_role, role_id)


@router.get(
    "/grants",
    response_model=Page[GrantPublic],
    summary="Grants you may see",
    responses=error_responses(),
)
def list_grants(
    uow: ApiUnit,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    tenant_id: TenantFilter = None,
    include_revoked: Flag = False,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[GrantPublic]:
    return uow.run(
        access.list_grants,
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
    responses={
        **REQUESTED,
        **error_responses(
            *MANAGE_REFUSALS,
            "role_not_assignable",
            "exceeds_cap",
            *GRANT_CONDITION_CODES,
        ),
    },
)
def create_grant(uow: ApiUnit, body: GrantCreate) -> Any:
    return governed(uow, None, operations.create_grant, body)


@router.get(
    "/grants/{grant_id}",
    response_model=GrantPublic,
    summary="One grant",
    responses=error_responses("not_found"),
)
def get_grant(uow: ApiUnit, grant_id: GrantId) -> GrantPublic:
    return uow.run(access.get_grant, grant_id)


@router.patch(
    "/grants/{grant_id}",
    response_model=GrantPublic,
    summary="Change a grant's conditions",
    responses={
        **REQUESTED,
        **error_responses(
            *MANAGE_REFUSALS,
            "role_not_assignable",
            "exceeds_cap",
            "grant_revoked",
            *GRANT_CONDITION_CODES,
        ),
    },
)
def update_grant(uow: ApiUnit, grant_id: GrantId, body: GrantUpdate) -> Any:
    return governed(uow, None, operations.update_grant, grant_id, body)


@router.delete(
    "/grants/{grant_id}",
    response_model=GrantPublic,
    summary="Revoke a grant",
    responses={
        **REQUESTED,
        **error_responses(
            *MANAGE_REFUSALS,
        ),
    },
)
def revoke_grant(uow: ApiUnit, grant_id: GrantId) -> Any:
    return governed(uow, None, operations.revoke_grant, grant_id)


@router.get(
    "/bank/caps",
    response_model=list[CapPublic],
    summary="The bank's caps: ceilings over every customer's limits",
    responses=error_responses("not_found"),
)
def bank_caps(uow: ApiUnit) -> list[CapPublic]:
    return uow.run(access.list_caps, None)


@router.put(
    "/bank/caps/{currency}",
    response_model=CapPublic,
    summary="Bank manager: set a bank cap",
    responses={
        **REQUESTED,
        **error_responses(
            *POLICY_REFUSALS,
            "unknown_currency",
        ),
    },
)
def set_bank_cap(uow: ApiUnit, currency: Currency, body: CapSet) -> Any:
    return governed(uow, None, operations.set_cap, None, currency, body)


@router.get(
    "/tenants/{tenant_id}/caps",
    response_model=list[CapPublic],
    summary="A tenant's caps",
    responses=error_responses("not_found"),
)
def tenant_caps(uow: ApiUnit, tenant_id: TenantId) -> list[CapPublic]:
    return uow.run(access.list_caps, tenant_id)


@router.put(
    "/tenants/{tenant_id}/caps/{currency}",
    response_model=CapPublic,
    summary="Bank manager: set a tenant's cap",
    responses={
        **REQUESTED,
        **error_responses(
            *POLICY_REFUSALS,
            "unknown_currency",
        ),
    },
)
def set_tenant_cap(uow: ApiUnit, tenant_id: TenantId, currency: Currency, body: CapSet) -> Any:
    return governed(uow, None, operations.set_cap, tenant_id, currency, body)
