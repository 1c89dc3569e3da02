"""Versions of the policy: propose, read, compare, replay, approve or reject, activate; a
company's extension through the same routes (a proposal with a tenant); what each tenant
runs (assignments), and a rollout to chosen tenants first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import ApiUnit
from api.errors import POLICY_REFUSALS, error_responses
from core.fields import MAX_ID
from core.policy.replay import Impact
from core.policy_versions import assignments, rollout, service
from core.policy_versions.schemas import (
    ImpactRequest,
    PolicyProposal,
    PolicyRejection,
    PolicyVersionDiff,
    PolicyVersionPublic,
    PolicyVersionSummary,
)
from core.policy_versions.tenant_schemas import ActivationTarget, PolicyAssignments

router = APIRouter(prefix="/v1/policy", tags=["policy versions"])

VersionId = Annotated[int, Path(ge=1, le=MAX_ID)]
# A version is decided by staff of its author's bank only, never by who proposed it (nor, for
# a rollback, alone by who approved it afresh), nor by anyone tied to them.
REVIEW_REFUSALS = (
    *POLICY_REFUSALS,
    "peer_required",
    "self_approval_forbidden",
    "approver_tied_to_requester",
)


@router.get(
    "/versions",
    response_model=list[PolicyVersionSummary],
    summary="Every version of the policy, newest first, with its status",
    responses=error_responses("not_found"),
)
def list_versions(uow: ApiUnit) -> list[PolicyVersionSummary]:
    return uow.run(service.list_versions)


@router.post(
    "/versions",
    response_model=PolicyVersionPublic,
    status_code=201,
    summary="Propose a version: its .polar files (and cases), validated before it is stored",
    description="Refused with 422 `policy_invalid` (and `failures`: each failing case's file, "
    "name, expected and got) when it does not load, a case of policies/tests or of the "
    "proposal fails, or it drops a built-in role, an action or a reason's case; nothing is "
    "stored then. A case file named like a bundled one replaces it. With `tenant_id`: that "
    "company's extension (only `tenant_refuses` rules, each with its reason "
    "`tenant_rule:<name>` and sentence; refused 422 `policy_invalid` with "
    "`report.extension_errors` otherwise), its cases decided with it loaded.",
    responses=error_responses(*POLICY_REFUSALS, "policy_invalid", "policy_version_exists"),
)
def propose(uow: ApiUnit, body: PolicyProposal) -> PolicyVersionPublic:
    return uow.run(rollout.propose, body)


@router.get(
    "/versions/{version_id}",
    response_model=PolicyVersionPublic,
    summary="A version: every file's text, its cases, and what validating it found",
    responses=error_responses("not_found"),
)
def get_version(uow: ApiUnit, version_id: VersionId) -> PolicyVersionPublic:
    return uow.run(service.get_version, version_id)


@router.get(
    "/versions/{version_id}/diff",
    response_model=PolicyVersionDiff,
    summary="A version against another, file by file, as rows for a side-by-side view",
    responses=error_responses("not_found"),
)
def diff(
    uow: ApiUnit,
    version_id: VersionId,
    against: Annotated[int, Query(ge=1, le=MAX_ID, description="the version to compare with")],
) -> PolicyVersionDiff:
    return uow.run(service.diff_versions, version_id, against)


@router.post(
    "/versions/{version_id}/impact",
    response_model=Impact,
    summary="Replay the logged decisions of a window under this version: what would flip",
    description="Reads only. Default window: the last 7 days; at most `limit` decisions. With "
    "`tenants` (a rollout's step), only their decisions, each under the version with the "
    "tenant's own extension, and `tenants` in the answer says each one's share; an "
    "extension's impact is its company's decisions under it.",
    responses=error_responses("not_found", "naive_datetime", "date_out_of_range"),
)
def impact(uow: ApiUnit, version_id: VersionId, body: ImpactRequest) -> Impact:
    return uow.run(rollout.impact, version_id, body)


@router.post(
    "/versions/{version_id}/approve",
    response_model=PolicyVersionPublic,
    summary="Approve a proposed version (or a retired one afresh, for a rollback)",
    responses=error_responses(*REVIEW_REFUSALS, "policy_version_not_pending"),
)
def approve(uow: ApiUnit, version_id: VersionId) -> PolicyVersionPublic:
    return uow.run(service.approve, version_id)


@router.post(
    "/versions/{version_id}/reject",
    response_model=PolicyVersionPublic,
    summary="Reject a proposed or approved version, with a reason",
    responses=error_responses(
        *REVIEW_REFUSALS, "policy_version_not_pending", "policy_version_in_use"
    ),
)
def reject(uow: ApiUnit, version_id: VersionId, body: PolicyRejection) -> PolicyVersionPublic:
    return uow.run(service.reject, version_id, body.reason)


@router.post(
    "/versions/{version_id}/activate",
    response_model=PolicyVersionPublic,
    summary="Put an approved version in force in every process (an earlier one: a rollback)",
    description="Every API process switches within seconds (LISTEN/NOTIFY on PostgreSQL, "
    "polling of the active version as the fallback); GET /healthz names each one's version. "
    "With `tenants`: a canary, only those tenants are pinned to it; without, it becomes the "
    "bank's default (the tenants pinned to it follow the default again). An extension is "
    "put in force for its own company.",
    responses=error_responses(
        *REVIEW_REFUSALS, "policy_version_not_approved", "policy_version_incompatible"
    ),
)
def activate(
    uow: ApiUnit, version_id: VersionId, body: ActivationTarget | None = None
) -> PolicyVersionPublic:
    return uow.run(rollout.activate, version_id, body)


@router.get(
    "/assignments",
    response_model=PolicyAssignments,
    summary="Which tenant runs which version and which extension, beside the bank's default",
    responses=error_responses("not_found"),
)
def list_assignments(uow: ApiUnit) -> PolicyAssignments:
    return uow.run(assignments.list_assignments)
