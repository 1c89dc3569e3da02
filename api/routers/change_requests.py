"""Dual administration: change requests, and approving or rejecting them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ApiUnit
from api.errors import POLICY_REFUSALS, error_responses
from api.params import Cursor, Limit
from api.routers.transfers import IdempotencyKey
from core.fields import MAX_ID
from core.governance import service
from core.governance.schemas import (
    ChangeKindName,
    ChangeRejection,
    ChangeRequestPublic,
    ChangeRequestStatus,
)
from core.pagination import Page

router = APIRouter(prefix="/v1", tags=["change requests"])

ChangeRequestId = Annotated[int, Path(ge=1, le=MAX_ID)]
# What deciding a change request can be refused for (policies/decide.polar).
DECISION_REFUSALS = (*POLICY_REFUSALS, "change_request_not_pending", "peer_required")


@router.get(
    "/change-requests",
    response_model=Page[ChangeRequestPublic],
    summary="Change requests you may see, newest first",
    responses=error_responses(),
)
def list_change_requests(
    uow: ApiUnit,
    status: Annotated[ChangeRequestStatus | None, Query()] = None,
    requester: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    kind: Annotated[ChangeKindName | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[ChangeRequestPublic]:
    return uow.run(
        service.list_requests,
        status=status,
        requester=requester,
        kind=kind,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/change-requests/{change_request_id}",
    response_model=ChangeRequestPublic,
    summary="One change request: the change as before and after",
    responses=error_responses("not_found"),
)
def get_change_request(uow: ApiUnit, change_request_id: ChangeRequestId) -> ChangeRequestPublic:
    return uow.run(service.get_request, change_request_id)


@router.post(
    "/change-requests/{change_request_id}/approve",
    response_model=ChangeRequestPublic,
    summary="Approve someone else's change request: it is applied now, as its requester, "
    "or refused with the reason when it no longer fits",
    description="status `applied`: the change is made (the change log names requester and "
    "approver); status `refused`: nothing of it is made (`reason`: change_request_stale, "
    "requester_inactive, or the refusal applying it gave). The same Idempotency-Key replays "
    "the answer.",
    responses=error_responses(
        *DECISION_REFUSALS,
        "own_change_request",
        "change_grants_approver_rights",
        "approver_tied_to_requester",
        "grantee_tied_to_approver",
        "step_up_required",
    ),
)
def approve_change_request(
    uow: ApiUnit, change_request_id: ChangeRequestId, idempotency_key: IdempotencyKey
) -> ChangeRequestPublic:
    return uow.run(service.approve, change_request_id, idempotency_key)


@router.post(
    "/change-requests/{change_request_id}/reject",
    response_model=ChangeRequestPublic,
    summary="Reject a change request (its requester may withdraw their own)",
    responses=error_responses(*DECISION_REFUSALS),
)
def reject_change_request(
    uow: ApiUnit, change_request_id: ChangeRequestId, body: ChangeRejection
) -> ChangeRequestPublic:
    return uow.run(service.reject, change_request_id, body.reason)
