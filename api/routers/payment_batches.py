"""Payment batches: a pain.001 file uploaded as one batch of payments, approved as one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from api.deps import ApiUnit
from api.errors import POLICY_REFUSALS, error_responses
from api.params import Cursor, Limit
from api.routers.payments import APPROVAL_REFUSALS
from api.routers.transfers import IdempotencyKey
from core.batches import service
from core.batches.pain001 import MAX_FILE_BYTES, MAX_TRANSFERS, VERSIONS
from core.batches.schemas import BatchInboxItem, BatchResult, BatchStatus, PaymentBatchPublic
from core.errors import UnsupportedMediaType
from core.fields import MAX_ID
from core.pagination import Page
from core.payments.schemas import PaymentEnd

router = APIRouter(prefix="/v1", tags=["payment batches"])

BatchId = Annotated[int, Path(ge=1, le=MAX_ID)]


# A pain.001 document is XML; a body sent as JSON or a form is some other request's.
FILE_MEDIA_TYPES = ("application/xml", "text/xml")


async def pain_file(request: Request) -> bytes:
    """The request's body as it came: the file, sent as application/xml (or text/xml).
    api.middleware.BodyLimits capped it already."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in FILE_MEDIA_TYPES:
        raise UnsupportedMediaType(
            "a payment file is sent with Content-Type: application/xml (or text/xml), not "
            + (repr(media_type) if media_type else "without one")
        )
    return await request.body()


PainFile = Annotated[bytes, Depends(pain_file)]
FILE_BODY = {
    "requestBody": {
        "required": True,
        "description": f"A pain.001 document ({' or '.join(VERSIONS)}), at most "
        f"{MAX_FILE_BYTES // (1024 * 1024)} MiB and {MAX_TRANSFERS:,} credit transfers",
        "content": {"application/xml": {"schema": {"type": "string", "format": "binary"}}},
    }
}
ANSWERS: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "approved: no tier of the panel caught the batch, or the last approval "
        "needed arrived: every accepted item is a payment, posted, sent, or scheduled for the "
        "file's execution date; a replay answers the stored response with the header "
        "Idempotent-Replayed: true",
        "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
    },
    202: {
        "model": PaymentBatchPublic,
        "description": "pending_approval: the accepted items' total is held and counted "
        "against your limits until enough approvals arrive (`required`) or the batch ends "
        "(rejected, cancelled, expired); refused items are listed with their reasons and "
        "never move money",
    },
}
FILE_ERRORS = (
    "unsupported_media_type",
    "xml_malformed",
    "xml_forbidden",
    "unsupported_file_version",
    "file_not_schema_valid",
    "batch_too_many_items",
    "batch_not_one_account",
    "control_sum_mismatch",
    "duplicate_message_id",
    "currency_mismatch",
    "invalid_execution_date",
    "payment_batch_refused",
    "account_frozen",
    "account_closed",
    "not_found",
    # A file whose every payment the policy refused for one reason answers that refusal.
    "missing_permission",
    "grant_not_yet_valid",
    "grant_expired",
    "outside_time_window",
    "limit_currency_mismatch",
    "limit_per_transfer",
    "limit_daily",
    "limit_monthly",
)


def _respond(result: BatchResult) -> JSONResponse:
    """201 for a batch whose items became payments, 202 for one that waits."""
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    status = 201 if result.batch.status == "approved" else 202
    return JSONResponse(result.batch.model_dump(mode="json"), status_code=status, headers=headers)


@router.post(
    "/payment-batches",
    response_model=PaymentBatchPublic,
    status_code=201,
    summary="Upload a pain.001 file: one payment batch, one policy decision per payment",
    description="The body is the XML file itself (send it as application/xml). A file "
    "that fails as a whole (not well-formed, a DTD or entities, not valid against its XSD, a "
    "MsgId sent before, an account not yours, a currency the account does not hold) creates "
    "nothing; otherwise each payment is decided on its own, and the batch holds the accepted "
    "ones (the refused are listed with their reasons). Bodies over "
    f"{MAX_FILE_BYTES // (1024 * 1024)} MiB are refused 413 before they are read.",
    responses={**ANSWERS, **error_responses(*FILE_ERRORS)},
    openapi_extra=FILE_BODY,
)
def create_batch(uow: ApiUnit, file: PainFile, idempotency_key: IdempotencyKey) -> JSONResponse:
    return _respond(uow.run(service.create_batch, file, idempotency_key))


@router.get(
    "/payment-batches",
    response_model=Page[PaymentBatchPublic],
    summary="Payment batches from accounts you may read, newest first (without their items)",
    responses=error_responses(),
)
def list_batches(
    uow: ApiUnit,
    status: Annotated[BatchStatus | None, Query()] = None,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[PaymentBatchPublic]:
    return uow.run(
        service.list_batches, status=status, account_id=account_id, cursor=cursor, limit=limit
    )


@router.get(
    "/approvals/payment-batches",
    response_model=list[BatchInboxItem],
    summary="Your approvals inbox for payment batches: those you may approve now, oldest first",
    responses=error_responses(),
)
def batch_inbox(uow: ApiUnit) -> list[BatchInboxItem]:
    return uow.run(service.batch_inbox)


@router.get(
    "/payment-batches/{batch_id}",
    response_model=PaymentBatchPublic,
    summary="One payment batch: its items with their status and refusals, its approvals",
    responses=error_responses("not_found"),
)
def get_batch(uow: ApiUnit, batch_id: BatchId) -> PaymentBatchPublic:
    return uow.run(service.get_batch, batch_id)


@router.post(
    "/payment-batches/{batch_id}/approve",
    response_model=PaymentBatchPublic,
    status_code=201,
    summary="Approve a batch someone else uploaded; the last approval needed posts it all",
    responses={
        **ANSWERS,
        **error_responses(
            *APPROVAL_REFUSALS,
            "account_frozen",
            "account_closed",
            "insufficient_available",
            "beneficiary_account_unavailable",
            "beneficiary_deleted",
        ),
    },
)
def approve_batch(uow: ApiUnit, batch_id: BatchId, idempotency_key: IdempotencyKey) -> JSONResponse:
    return _respond(uow.run(service.approve_batch, batch_id, idempotency_key))


@router.post(
    "/payment-batches/{batch_id}/reject",
    response_model=PaymentBatchPublic,
    summary="Reject a whole batch awaiting approval, with a reason",
    responses=error_responses(
        *POLICY_REFUSALS,
        "payment_not_pending",
        "self_approval_forbidden",
        "limit_currency_mismatch",
        "approval_limit_exceeded",
        "reason_required",
    ),
)
def reject_batch(uow: ApiUnit, batch_id: BatchId, body: PaymentEnd) -> PaymentBatchPublic:
    return uow.run(service.reject_batch, batch_id, body)


@router.post(
    "/payment-batches/{batch_id}/cancel",
    response_model=PaymentBatchPublic,
    summary="Cancel a whole batch awaiting approval (who uploaded it, or payment.cancel)",
    responses=error_responses(*POLICY_REFUSALS, "payment_not_pending"),
)
def cancel_batch(uow: ApiUnit, batch_id: BatchId, body: PaymentEnd) -> PaymentBatchPublic:
    return uow.run(service.cancel_batch, batch_id, body)
