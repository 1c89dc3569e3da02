"""The audit evidence, for compliance: the chains' signed checkpoints, the audit key, and
export bundles for auditors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import ApiUnit, services
from api.errors import error_responses
from api.params import Cursor, Limit, TenantFilter
from core.audit import checkpoints as evidence
from core.audit import export as bundles
from core.audit.checkpoints import AuditKeyPublic, CheckpointPublic
from core.fields import CalendarDate
from core.pagination import Page

router = APIRouter(prefix="/v1/audit", tags=["compliance"])
_BUNDLE = {"application/zip": {"schema": {"type": "string", "format": "binary"}}}


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


@router.get(
    "/export",
    response_class=Response,
    summary="Compliance: a signed evidence bundle of a period's records, for an auditor",
    description="A zip: per chain its links over the period with their records, the links "
    "after it up to a signed checkpoint, the checkpoints, the audit key's public half, a "
    "manifest of every file's SHA-256 signed with the audit key, and verify_bundle.py, which "
    "verifies it offline (`python verify_bundle.py bundle.zip`, needs only `cryptography`). "
    "Days are UTC; at most 366. The export is a logged decision.",
    responses={
        200: {"description": "The bundle", "content": _BUNDLE},
        **error_responses("not_found", "invalid_period", "period_too_long", "date_out_of_range"),
    },
)
def export_bundle(
    request: Request,
    uow: ApiUnit,
    first_day: Annotated[CalendarDate, Query(alias="from", description="First day (UTC)")],
    last_day: Annotated[CalendarDate, Query(alias="to", description="Last day, included")],
    tenant_id: TenantFilter = None,
) -> Response:
    key = services(request).audit_key
    bundle = uow.run(bundles.export_bundle, key, first_day, last_day, tenant_id)
    name = bundles.bundle_name(tenant_id, first_day, last_day)
    return Response(
        bundle,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
