"""People and companies: who you are, users, tenants, and the permission vocabulary."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import ApiUnit, EnrolmentUnit, services
from api.errors import MANAGE_REFUSALS, POLICY_REFUSALS, error_responses
from api.governed import REQUESTED, governed
from api.params import Cursor, Limit, TenantFilter, TenantId, UserId
from core.governance import operations
from core.iam import service
from core.iam.schemas import (
    BankPublic,
    BankSettings,
    MePublic,
    PasswordReset,
    PermissionPublic,
    TenantCreate,
    TenantPublic,
    TenantSettings,
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
def me(uow: EnrolmentUnit) -> MePublic:
    return uow.run(service.me)


@router.get(
    "/permissions",
    response_model=list[PermissionPublic],
    summary="The permission vocabulary (from policies/vocabulary.polar)",
    responses=error_responses(),
)
def permissions(uow: ApiUnit) -> list[PermissionPublic]:
    return uow.run(service.permission_vocabulary)


@router.get(
    "/users",
    response_model=Page[UserPublic],
    summary="Users you may see",
    responses=error_responses(),
)
def list_users(
    uow: ApiUnit,
    tenant_id: TenantFilter = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[UserPublic]:
    return uow.run(service.list_users, tenant_id=tenant_id, cursor=cursor, limit=limit)


@router.post(
    "/users",
    response_model=UserPublic,
    status_code=201,
    summary="Create a user",
    responses={
        **REQUESTED,
        **error_responses(
            *MANAGE_REFUSALS,
            "username_taken",
        ),
    },
)
def create_user(request: Request, uow: ApiUnit, body: UserCreate) -> Any:
    return governed(uow, None, operations.create_user, services(request).passwords, body)


@router.get(
    "/users/{user_id}",
    response_model=UserPublic,
    summary="One user",
    responses=error_responses("not_found"),
)
def get_user(uow: ApiUnit, user_id: UserId) -> UserPublic:
    return uow.run(service.get_user, user_id)


@router.patch(
    "/users/{user_id}",
    response_model=UserPublic,
    summary="Rename, deactivate or reactivate a user",
    responses={**REQUESTED, **error_responses(*MANAGE_REFUSALS)},
)
def update_user(uow: ApiUnit, user_id: UserId, body: UserUpdate) -> Any:
    return governed(uow, None, operations.update_user, user_id, body)


@router.post(
    "/users/{user_id}/password",
    response_model=UserPublic,
    summary="Reset a user's password (ends their sessions)",
    responses={**REQUESTED, **error_responses(*MANAGE_REFUSALS, "client_has_no_password")},
)
def reset_password(request: Request, uow: ApiUnit, user_id: UserId, body: PasswordReset) -> Any:
    return governed(
        uow, None, operations.reset_password, services(request).passwords, user_id, body
    )


@router.get(
    "/tenants",
    response_model=list[TenantPublic],
    summary="Bank staff: the bank's customers",
    responses=error_responses("not_found"),
)
def list_tenants(uow: ApiUnit) -> list[TenantPublic]:
    return uow.run(service.list_tenants)


@router.post(
    "/tenants",
    response_model=TenantPublic,
    status_code=201,
    summary="Bank staff: onboard a corporate customer",
    responses=error_responses(
        *POLICY_REFUSALS,
        "tenant_exists",
        "unknown_time_zone",
    ),
)
def create_tenant(uow: ApiUnit, body: TenantCreate) -> TenantPublic:
    return uow.run(service.onboard_tenant, body)


@router.get(
    "/tenants/{tenant_id}",
    response_model=TenantPublic,
    summary="Bank staff: one customer",
    responses=error_responses("not_found"),
)
def get_tenant(uow: ApiUnit, tenant_id: TenantId) -> TenantPublic:
    return uow.run(service.get_tenant, tenant_id)


@router.patch(
    "/tenants/{tenant_id}",
    response_model=TenantPublic,
    summary="Bank staff: set a customer's rules for payments (beneficiary approval, new "
    "beneficiaries' hours, payment expiry), for change (dual administration) and for "
    "strong authentication (step-up)",
    responses={
        **REQUESTED,
        **error_responses(*POLICY_REFUSALS, "dual_admin_mandatory", "unknown_currency"),
    },
)
def update_tenant(uow: ApiUnit, tenant_id: TenantId, body: TenantSettings) -> Any:
    return governed(uow, None, operations.update_tenant_settings, tenant_id, body)


@router.get(
    "/bank/settings",
    response_model=BankPublic,
    summary="Bank staff: the bank's rules for change (dual administration, dual control)",
    responses=error_responses("not_found"),
)
def get_bank_settings(uow: ApiUnit) -> BankPublic:
    return uow.run(service.get_bank)


@router.patch(
    "/bank/settings",
    response_model=BankPublic,
    summary="Bank managers: set the bank's rules for change (new customers' dual "
    "administration, whether it is mandatory, dual control over bank managers)",
    responses={**REQUESTED, **error_responses(*POLICY_REFUSALS)},
)
def update_bank_settings(uow: ApiUnit, body: BankSettings) -> Any:
    return governed(uow, None, operations.update_bank_settings, body)
