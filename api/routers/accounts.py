"""Accounts and their statements."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ApiUnit
from api.errors import POLICY_REFUSALS, error_responses
from api.params import AccountId, Cursor, Limit, TenantFilter
from core.ledger import service
from core.ledger.schemas import AccountCreate, AccountPublic, AccountUpdate, EntryPublic
from core.pagination import Page

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


@router.get(
    "",
    response_model=Page[AccountPublic],
    summary="Accounts you may read",
    responses=error_responses(),
)
def list_accounts(
    uow: ApiUnit,
    cursor: Cursor = None,
    limit: Limit = None,
    tenant_id: TenantFilter = None,
) -> Page[AccountPublic]:
    return uow.run(service.list_accounts, cursor=cursor, limit=limit, tenant_id=tenant_id)


@router.post(
    "",
    response_model=AccountPublic,
    status_code=201,
    summary="Open an account (bank staff)",
    responses=error_responses(
        *POLICY_REFUSALS,
        "unknown_currency",
    ),
)
def open_account(uow: ApiUnit, body: AccountCreate) -> AccountPublic:
    return uow.run(service.open_account, body)


@router.get(
    "/{account_id}",
    response_model=AccountPublic,
    summary="One account, with its balance",
    responses=error_responses("not_found"),
)
def get_account(uow: ApiUnit, account_id: AccountId) -> AccountPublic:
    return uow.run(service.get_account, account_id)


@router.patch(
    "/{account_id}",
    response_model=AccountPublic,
    summary="Rename, freeze, unfreeze, close, or change the overdraft limit (bank staff)",
    responses=error_responses(
        *POLICY_REFUSALS,
        "account_closed",
        "account_not_empty",
        "conflict",
    ),
)
def update_account(uow: ApiUnit, account_id: AccountId, body: AccountUpdate) -> AccountPublic:
    return uow.run(service.update_account, account_id, body)


@router.get(
    "/{account_id}/entries",
    response_model=Page[EntryPublic],
    summary="Statement: entries newest first, with the balance after each",
    responses=error_responses("not_found"),
)
def list_entries(
    uow: ApiUnit,
    account_id: AccountId,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[EntryPublic]:
    return uow.run(service.statement, account_id, cursor=cursor, limit=limit)
