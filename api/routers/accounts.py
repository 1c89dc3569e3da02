"""Accounts and their statements."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.deps import ApiUnit
from api.errors import POLICY_REFUSALS, error_responses
from api.params import AccountId, Cursor, Limit, TenantFilter
from core.fields import CalendarDate
from core.ledger import service
from core.ledger.schemas import AccountCreate, AccountPublic, AccountUpdate, EntryPublic
from core.pagination import Page
from core.statements import export as statements
from core.statements.files import MEDIA_TYPES, statement_file

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


_EXPORT_FILES = {
    media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES.values()
}


@router.get(
    "/{account_id}/statements",
    response_class=StreamingResponse,
    summary="Statement export over a period: CSV or ISO 20022 camt.053.001.08, streamed",
    responses={
        200: {"description": "The statement file", "content": _EXPORT_FILES},
        **error_responses(
            "not_found",
            "invalid_period",
            "period_too_long",
            "unknown_statement_format",
            "date_out_of_range",
        ),
    },
)
def export_statement(
    uow: ApiUnit,
    account_id: AccountId,
    first_day: Annotated[
        CalendarDate, Query(alias="from", description="First day (the company's zone)")
    ],
    last_day: Annotated[CalendarDate, Query(alias="to", description="Last day, included")],
    format: Annotated[str, Query(max_length=20, description="csv or camt053")] = "csv",
) -> StreamingResponse:
    export = uow.run(
        statements.open_export, account_id, first_day=first_day, last_day=last_day, format=format
    )
    return StreamingResponse(
        statement_file(uow.db, export),
        media_type=MEDIA_TYPES[export.format],
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )
