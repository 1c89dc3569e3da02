"""What one tenant runs (bank staff: pin it to a version, move it back, put its company's
extension in force), and its company's own rules in words (its corporate admins)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ApiUnit
from api.errors import POLICY_REFUSALS, error_responses
from api.params import TenantId
from core.policy_versions import assignments
from core.policy_versions.tenant_schemas import CompanyRules, TenantPolicyPublic, TenantPolicyPut

router = APIRouter(prefix="/v1", tags=["policy versions"])


@router.put(
    "/tenants/{tenant_id}/policy",
    response_model=TenantPolicyPublic,
    summary="Bank staff: pin a tenant to a policy version or move it back to the default, and "
    "put its company's extension in force or take it away",
    description="Four eyes: each version the tenant newly runs is put in force for it by "
    "someone other than who proposed it (an earlier version approved afresh: nor by who "
    "approved it). Every API process switches within seconds.",
    responses=error_responses(
        *POLICY_REFUSALS,
        "self_approval_forbidden",
        "policy_version_not_approved",
        "policy_version_incompatible",
    ),
)
def put_tenant_policy(
    uow: ApiUnit, tenant_id: TenantId, body: TenantPolicyPut
) -> TenantPolicyPublic:
    return uow.run(assignments.set_tenant_policy, tenant_id, body)


@router.get(
    "/tenants/{tenant_id}/rules",
    response_model=CompanyRules,
    summary="A company's own rules, in words: what the bank refuses for it beyond the "
    "platform's rules",
    responses=error_responses("not_found"),
)
def company_rules(uow: ApiUnit, tenant_id: TenantId) -> CompanyRules:
    return uow.run(assignments.company_rules, tenant_id)
