"""The audit evidence, for compliance: the chains' signed checkpoints and the audit key."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import ApiUnit, services
from api.errors import error_responses
from api.params import Cursor, Limit, TenantFilter
from core.audit import checkpoints as evidence
from core.audit.checkpoints import AuditKeyPublic, CheckpointPublic
from core.pagination import Page

router = APIRouter(prefix="/v1/audit", tags=["compliance"])


@router.get(
    "/checkpoints",
    response_model=Page[CheckpointPublic],
    summary="Compliance: the signed checkpoints of the hash chains, newest first",
    description="Each is a chain's head (position and hash) at an instant, signed with the "
    "audit key (GET /v1/audit/key): an auditor holding one can check that the chain later "
    "read passes through it (`mandate audit verify`, or an export bundle's verifier).",
    responses=error_responses("not_found"),
)
def checkpoints(
    uow: ApiUnit, tenant_id: TenantFilter = None, cursor: Cursor = None, limit: Limit = None
) -> Page[CheckpointPublic]:
    return uow.run(evidence.checkpoints, tenant_id=tenant_id, cursor=cursor, limit=limit)


@router.get(
    "/key",
    response_model=AuditKeyPublic,
    summary="Compliance: the public half of the audit key (Ed25519, PEM)",
    responses=error_responses("not_found"),
)
def audit_key(request: Request, uow: ApiUnit) -> AuditKeyPublic:
    return uow.run(evidence.published_key, services(request).audit_key)
