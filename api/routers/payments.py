"""Payments to beneficiaries under dual control, the approvals inbox, and approval rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import ApiUnit
from api.errors import COMPANY_RULES, POLICY_REFUSALS, error_responses
from api.governed import REQUESTED, governed
from api.params import Cursor, Limit, PaymentId, TenantFilter
from api.routers.transfers import MONEY_ERRORS, IdempotencyKey
from core.fields import MAX_ID
from core.governance import operations
from core.pagination import Page
from core.payments import service
from core.payments.schemas import (
    ApprovalRulePublic,
    ApprovalRules,
    ApprovalRulesPut,
    InboxItem,
    PaymentCreate,
    PaymentEnd,
    PaymentPreview,
    PaymentPublic,
    PaymentResult,
    PaymentStatus,
)

router = APIRouter(prefix="/v1", tags=["payments"])

# What approving, rejecting or cancelling a payment can be refused for.
APPROVAL_REFUSALS = (
    *POLICY_REFUSALS,
    "payment_not_pending",
    "self_approval_forbidden",
    "already_approved",
    "approval_group_not_needed",
    "limit_currency_mismatch",
    "approval_limit_exceeded",
    "approval_daily_limit_exceeded",
    # Where the company asks for step-up: 401 with an RFC 9470 challenge (api.errors).
    "step_up_required",
)
ANSWERS: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Posted (internal) or sent (external): no approval was needed, or the "
        "last one needed arrived; a replay answers the stored response with the header "
        "Idempotent-Replayed: true",
        "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
    },
    202: {
        "model": PaymentPublic,
        "description": "pending_approval: its amount is held until enough approvals arrive "
        "(`required` says what is still needed) or it ends (rejected, cancelled, expired); "
        "scheduled: approved (or needing no approval) for a later execution date, its amount "
        "held until it executes on that day (posted or sent; failed if the account can no "
        "longer be debited then) or is cancelled",
    },
}
StatusFilter = Annotated[PaymentStatus | None, Query()]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _respond(result: PaymentResult) -> JSONResponse:
    """201 for a payment whose money moved, 202 for one that waits; a replay the same, marked
    Idempotent-Replayed."""
    moved = result.payment.status in ("posted", "sent")
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(
        result.payment.model_dump(mode="json"), status_code=201 if moved else 202, headers=headers
    )


@router.post(
    "/payments",
    response_model=PaymentPublic,
    status_code=201,
    summary="Pay a beneficiary from one of your company's accounts",
    responses={
        **ANSWERS,
        **error_responses(
            *MONEY_ERRORS,
            *COMPANY_RULES,
            "same_account",
            "insufficient_available",
            "beneficiary_account_unavailable",
            "beneficiary_not_approved",
            "invalid_execution_date",
            "date_out_of_range",
            "step_up_required",
        ),
    },
)
def create_payment(
    uow: ApiUnit, body: PaymentCreate, idempotency_key: IdempotencyKey
) -> JSONResponse:
    return _respond(uow.run(service.create_payment, body, idempotency_key))


@router.post(
    "/payment-previews",
    response_model=PaymentPreview,
    summary="What a payment would do if sent now: refused, sent, or held for whose approval",
    description="Nothing is held or sent, and no Idempotency-Key is needed: the same decisions "
    "as the payment itself, asked without acting on them.",
    responses=error_responses(
        "not_found",
        "beneficiary_not_approved",
        "currency_mismatch",
        "unknown_currency",
        "invalid_amount",
        "amount_too_large",
        "same_account",
        "invalid_execution_date",
        "date_out_of_range",
    ),
)
def preview_payment(uow: ApiUnit, body: PaymentCreate) -> PaymentPreview:
    return uow.run(service.preview_payment, body)


@router.get(
    "/payments",
    response_model=Page[PaymentPublic],
    summary="Payments from accounts you may read, newest first",
    responses=error_responses(),
)
def list_payments(
    uow: ApiUnit,
    status: StatusFilter = None,
    account_id: IdFilter = None,
    beneficiary_id: IdFilter = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[PaymentPublic]:
    return uow.run(
        service.list_payments,
        status=status,
        account_id=account_id,
        beneficiary_id=beneficiary_id,
        cursor=cursor,
        limit=limit,
    )


@router.get(
    "/payments/{payment_id}",
    response_model=PaymentPublic,
    summary="One payment, with its approval trail",
    responses=error_responses("not_found"),
)
def get_payment(uow: ApiUnit, payment_id: PaymentId) -> PaymentPublic:
    return uow.run(service.get_payment, payment_id)


@router.post(
    "/payments/{payment_id}/approve",
    response_model=PaymentPublic,
    status_code=201,
    summary="Approve a payment someone else prepared; the last approval needed posts it",
    responses={
        **ANSWERS,
        **error_responses(
            *APPROVAL_REFUSALS,
            *COMPANY_RULES,
            "account_frozen",
            "account_closed",
            "insufficient_available",
            "beneficiary_account_unavailable",
            "beneficiary_deleted",
        ),
    },
)
def approve_payment(
    uow: ApiUnit, payment_id: PaymentId, idempotency_key: IdempotencyKey
) -> JSONResponse:
    return _respond(uow.run(service.approve_payment, payment_id, idempotency_key))


@router.post(
    "/payments/{payment_id}/reject",
    response_model=PaymentPublic,
    summary="Reject a payment awaiting approval, with a reason",
    responses=error_responses(
        *POLICY_REFUSALS,
        "payment_not_pending",
        "self_approval_forbidden",
        "limit_currency_mismatch",
        "approval_limit_exceeded",
        "reason_required",
    ),
)
def reject_payment(uow: ApiUnit, payment_id: PaymentId, body: PaymentEnd) -> PaymentPublic:
    return uow.run(service.reject_payment, payment_id, body)


@router.post(
    "/payments/{payment_id}/cancel",
    response_model=PaymentPublic,
    summary="Cancel a payment awaiting approval or its execution date (who prepared it, or "
    "payment.cancel)",
    responses=error_responses(*POLICY_REFUSALS, "payment_not_pending"),
)
def cancel_payment(uow: ApiUnit, payment_id: PaymentId, body: PaymentEnd) -> PaymentPublic:
    return uow.run(service.cancel_payment, payment_id, body)


@router.get(
    "/approvals",
    response_model=list[InboxItem],
    summary="Your approvals inbox: the payments you may approve now, oldest first (payment "
    "batches: /v1/approvals/payment-batches)",
    responses=error_responses(),
)
def approvals_inbox(uow: ApiUnit) -> list[InboxItem]:
    return uow.run(service.inbox)


@router.get(
    "/approval-rules",
    response_model=ApprovalRules,
    summary="Your company's approval rules, with the bank's minimums it inherits",
    responses=error_responses("not_found"),
)
def get_approval_rules(uow: ApiUnit, tenant_id: TenantFilter = None) -> ApprovalRules:
    return uow.run(service.get_rules, tenant_id)


@router.put(
    "/approval-rules",
    response_model=ApprovalRules,
    summary="Replace your company's approval rules (the bank's minimums always apply)",
    responses={
        **REQUESTED,
        **error_responses(
            *POLICY_REFUSALS, "below_bank_minimum", "currency_mismatch", "unknown_currency"
        ),
    },
)
def put_approval_rules(uow: ApiUnit, body: ApprovalRulesPut, tenant_id: TenantFilter = None) -> Any:
    return governed(uow, None, operations.put_approval_rules, body, tenant_id)


@router.get(
    "/bank/approval-rules",
    response_model=list[ApprovalRulePublic],
    summary="The bank's approval minimums, inherited by every company",
    responses=error_responses("not_found"),
)
def get_bank_approval_rules(uow: ApiUnit) -> list[ApprovalRulePublic]:
    return uow.run(service.get_bank_rules)


@router.put(
    "/bank/approval-rules",
    response_model=list[ApprovalRulePublic],
    summary="Bank managers: replace the bank's approval minimums",
    responses={**REQUESTED, **error_responses(*POLICY_REFUSALS, "unknown_currency")},
)
def put_bank_approval_rules(uow: ApiUnit, body: ApprovalRulesPut) -> Any:
    return governed(uow, None, operations.put_bank_approval_rules, body)
