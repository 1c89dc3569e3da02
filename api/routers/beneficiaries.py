"""Beneficiaries: the payees a company pays, and the second person's approval of a new one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import ApiUnit
from api.errors import COMPANY_RULES, POLICY_REFUSALS, error_responses
from api.params import BeneficiaryId, Cursor, Limit, TenantFilter
from core.pagination import Page
from core.payments import beneficiaries
from core.payments.beneficiary_schemas import (
    BeneficiaryCreate,
    BeneficiaryPublic,
    BeneficiaryStatus,
    BeneficiaryUpdate,
)

router = APIRouter(prefix="/v1", tags=["beneficiaries"])

StatusFilter = Annotated[
    BeneficiaryStatus | None, Query(description="Only beneficiaries with this status")
]


@router.get(
    "/beneficiaries",
    response_model=Page[BeneficiaryPublic],
    summary="Beneficiaries you may see: your company's payees",
    responses=error_responses(),
)
def list_beneficiaries(
    uow: ApiUnit,
    status: StatusFilter = None,
    tenant_id: TenantFilter = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Page[BeneficiaryPublic]:
    return uow.run(
        beneficiaries.list_beneficiaries,
        status=status,
        tenant_id=tenant_id,
        cursor=cursor,
        limit=limit,
    )


@router.post(
    "/beneficiaries",
    response_model=BeneficiaryPublic,
    status_code=201,
    summary="Add a beneficiary (it may wait for a second person's approval)",
    responses=error_responses(
        *POLICY_REFUSALS,
        *COMPANY_RULES,
        "step_up_required",
        "invalid_iban",
        "invalid_bic",
        "bic_country_mismatch",
        "beneficiary_exists",
    ),
)
def create_beneficiary(uow: ApiUnit, body: BeneficiaryCreate) -> BeneficiaryPublic:
    return uow.run(beneficiaries.create_beneficiary, body)


@router.get(
    "/beneficiaries/{beneficiary_id}",
    response_model=BeneficiaryPublic,
    summary="One beneficiary",
    responses=error_responses("not_found"),
)
def get_beneficiary(uow: ApiUnit, beneficiary_id: BeneficiaryId) -> BeneficiaryPublic:
    return uow.run(beneficiaries.get_beneficiary, beneficiary_id)


@router.patch(
    "/beneficiaries/{beneficiary_id}",
    response_model=BeneficiaryPublic,
    summary="Change a beneficiary's name, BIC or reference template (never its IBAN)",
    responses=error_responses(
        *POLICY_REFUSALS,
        *COMPANY_RULES,
        "step_up_required",
        "invalid_bic",
        "bic_country_mismatch",
    ),
)
def update_beneficiary(
    uow: ApiUnit, beneficiary_id: BeneficiaryId, body: BeneficiaryUpdate
) -> BeneficiaryPublic:
    return uow.run(beneficiaries.update_beneficiary, beneficiary_id, body)


@router.delete(
    "/beneficiaries/{beneficiary_id}",
    status_code=204,
    summary="Delete a beneficiary (payments made to it keep naming it)",
    responses=error_responses(
        *POLICY_REFUSALS,
        *COMPANY_RULES,
        "step_up_required",
    ),
)
def delete_beneficiary(uow: ApiUnit, beneficiary_id: BeneficiaryId) -> Response:
    uow.run(beneficiaries.delete_beneficiary, beneficiary_id)
    return Response(status_code=204)


@router.post(
    "/beneficiaries/{beneficiary_id}/approve",
    response_model=BeneficiaryPublic,
    summary="Approve a beneficiary another person added: from then on it can be paid",
    responses=error_responses(
        *POLICY_REFUSALS,
        *COMPANY_RULES,
        "self_approval_forbidden",
        "beneficiary_not_pending",
    ),
)
def approve_beneficiary(uow: ApiUnit, beneficiary_id: BeneficiaryId) -> BeneficiaryPublic:
    return uow.run(beneficiaries.approve_beneficiary, beneficiary_id)
