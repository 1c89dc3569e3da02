"""Moving money: transfers between a company's accounts; deposits and withdrawals by staff."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from api.deps import ApiUnit
from api.errors import COMPANY_RULES, error_responses
from api.params import Cursor, Limit, TransferId
from core.ledger import service
from core.ledger.schemas import DepositCreate, TransferCreate, TransferPublic, TransferResult
from core.pagination import Page

router = APIRouter(prefix="/v1", tags=["transfers"])

# Required, and documented so: missing or malformed, it is refused with 400
# idempotency_key_required / idempotency_key_invalid (api.errors maps the validation error).
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        description="A key of yours (e.g. a UUID) that makes retries safe: the same "
        "key and body get the stored response, never a second transfer. Kept at least 24 h. "
        "While a request with the key is still running, PostgreSQL deployments answer a second "
        "one 409 idempotency_key_in_flight with Retry-After (seconds; the retry replays); on "
        "SQLite, one writer at a time, the second waits for the first and replays its answer.",
        min_length=1,
        max_length=255,
        pattern=r"^[ -~]+$",
    ),
]
# What moving money can be refused for, beyond the shape of the request: the accounts, the
# policy (limits and time windows) and the ledger.
MONEY_ERRORS = (
    "not_found",
    "counterparty_not_found",
    "missing_permission",
    "grant_not_yet_valid",
    "grant_expired",
    "outside_time_window",
    "limit_currency_mismatch",
    "limit_per_transfer",
    "limit_daily",
    "limit_monthly",
    "account_frozen",
    "account_closed",
    "insufficient_funds",
    "currency_mismatch",
    "unknown_currency",
    "invalid_amount",
    "amount_too_large",
)
CREATED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Posted; a replay answers the stored response with the header "
        "Idempotent-Replayed: true",
        "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
    }
}


def _respond(result: TransferResult) -> JSONResponse:
    """201 Created; a replay answers the same, marked Idempotent-Replayed (Stripe's way)."""
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(result.transfer.model_dump(mode="json"), status_code=201, headers=headers)


@router.post(
    "/transfers",
    response_model=TransferPublic,
    status_code=201,
    summary="Move money between two of your company's accounts",
    responses={
        **CREATED,
        **error_responses(*MONEY_ERRORS, *COMPANY_RULES, "same_account", "step_up_required"),
    },
)
def create_transfer(
    uow: ApiUnit, body: TransferCreate, idempotency_key: IdempotencyKey
) -> JSONResponse:
    return _respond(uow.run(service.create_transfer, body, idempotency_key))


@router.post(
    "/deposits",
    response_model=TransferPublic,
    status_code=201,
    summary="Bank staff: credit an account from the clearing account",
    responses={**CREATED, **error_responses(*MONEY_ERRORS)},
)
def create_deposit(
    uow: ApiUnit, body: DepositCreate, idempotency_key: IdempotencyKey
) -> JSONResponse:
    return _respond(uow.run(service.create_deposit, body, idempotency_key))


@router.post(
    "/withdrawals",
    response_model=TransferPublic,
    status_code=201,
    summary="Bank staff: debit an account to the clearing account",
    responses={**CREATED, **error_responses(*MONEY_ERRORS)},
)
def create_withdrawal(
    uow: ApiUnit, body: DepositCreate, idempotency_key: IdempotencyKey
) -> JSONResponse:
    return _respond(uow.run(service.create_withdrawal, body, idempotency_key))


@router.get(
    "/transfers",
    response_model=Page[TransferPublic],
    summary="Transfers touching accounts you may read, newest first",
    responses=error_responses(),
)
def list_transfers(
    uow: ApiUnit,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[TransferPublic]:
    return uow.run(service.list_transfers, cursor=cursor, limit=limit)


@router.get(
    "/transfers/{transfer_id}",
    response_model=TransferPublic,
    summary="One transfer",
    responses=error_responses("not_found"),
)
def get_transfer(uow: ApiUnit, transfer_id: TransferId) -> TransferPublic:
    return uow.run(service.get_transfer, transfer_id)
