"""API clients: machines of a company, or services of the bank, as principals that hold grants
and get tokens by OAuth 2.0 client credentials (POST /v1/auth/token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import ApiUnit, services
from api.errors import MANAGE_REFUSALS, error_responses
from api.governed import REQUESTED
from api.governed import governed as run_governed
from api.params import ApiClientId, Cursor, Limit
from core.governance import operations
from core.iam import api_clients
from core.iam.api_client_schemas import ApiClientCreate, ApiClientCreated, ApiClientPublic
from core.pagination import Page

router = APIRouter(prefix="/v1", tags=["API clients"])


@router.get(
    "/api-clients",
    response_model=Page[ApiClientPublic],
    summary="API clients you may see",
    responses=error_responses(),
)
def list_api_clients(uow: ApiUnit, cursor: Cursor = None, limit: Limit = None) -> Any:
    return uow.run(api_clients.list_api_clients, cursor=cursor, limit=limit)


@router.post(
    "/api-clients",
    response_model=ApiClientCreated,
    status_code=201,
    summary="Register an API client (its secret, if any, is shown this once)",
    responses={**REQUESTED, **error_responses(*MANAGE_REFUSALS, "username_taken")},
)
def create_api_client(request: Request, uow: ApiUnit, body: ApiClientCreate) -> Any:
    return run_governed(uow, None, operations.create_api_client, services(request).passwords, body)


@router.get(
    "/api-clients/{api_client_id}",
    response_model=ApiClientPublic,
    summary="One API client",
    responses=error_responses("not_found"),
)
def get_api_client(uow: ApiUnit, api_client_id: ApiClientId) -> Any:
    return uow.run(api_clients.get_api_client, api_client_id)


@router.post(
    "/api-clients/{api_client_id}/disable",
    response_model=ApiClientPublic,
    summary="Disable an API client: its tokens stop working at once",
    responses={**REQUESTED, **error_responses(*MANAGE_REFUSALS)},
)
def disable_api_client(uow: ApiUnit, api_client_id: ApiClientId) -> Any:
    return run_governed(uow, None, operations.disable_api_client, api_client_id)
