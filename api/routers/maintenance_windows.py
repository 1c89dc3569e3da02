"""Maintenance windows: bank managers announce and cancel them, bank staff list them; the
platform's status (the window in force, those announced) for everyone, without a token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api.deps import ApiUnit, services
from api.errors import POLICY_REFUSALS, error_responses
from core.fields import MAX_ID
from core.operations import service
from core.operations.schemas import (
    MaintenanceWindowCreate,
    MaintenanceWindowPublic,
    PlatformStatus,
)

router = APIRouter(prefix="/v1", tags=["maintenance"])

WindowId = Annotated[int, Path(ge=1, le=MAX_ID)]


@router.get(
    "/status",
    response_model=PlatformStatus,
    summary="Whether Mandate takes writes now, the maintenance window in force and those "
    "announced (no token needed)",
    description="`status`: operational, read_only (writes answer 503 maintenance) or "
    "maintenance (everything but health and status answers 503). `upcoming`: the windows "
    "starting within the notice period (MANDATE_MAINTENANCE_NOTICE_DAYS), soonest first.",
)
def platform_status(request: Request) -> PlatformStatus:
    svc = services(request)
    return service.platform_status(svc.maintenance.outlook(svc.clock.now()))


@router.post(
    "/maintenance-windows",
    status_code=201,
    response_model=MaintenanceWindowPublic,
    summary="Bank managers: announce a maintenance window",
    description="Customers see it from the notice period before it starts (GET /v1/status, "
    "the Mandate-Maintenance header, the console's banner). While it is in force every API "
    "process refuses what its mode refuses within a few seconds.",
    responses=error_responses(
        *POLICY_REFUSALS, "invalid_request", "naive_datetime", "date_out_of_range"
    ),
)
def schedule_window(
    request: Request, uow: ApiUnit, body: MaintenanceWindowCreate
) -> MaintenanceWindowPublic:
    window = uow.run(service.schedule_window, body)
    services(request).maintenance.forget()
    return window


@router.get(
    "/maintenance-windows",
    response_model=list[MaintenanceWindowPublic],
    summary="Bank staff: the bank's maintenance windows, latest first",
    responses=error_responses("not_found"),
)
def list_windows(uow: ApiUnit) -> list[MaintenanceWindowPublic]:
    return uow.run(service.list_windows)


@router.get(
    "/maintenance-windows/{window_id}",
    response_model=MaintenanceWindowPublic,
    summary="Bank staff: one maintenance window",
    responses=error_responses("not_found"),
)
def get_window(uow: ApiUnit, window_id: WindowId) -> MaintenanceWindowPublic:
    return uow.run(service.get_window, window_id)


@router.post(
    "/maintenance-windows/{window_id}/cancel",
    response_model=MaintenanceWindowPublic,
    summary="Bank managers: cancel a maintenance window, or end one in force now",
    responses=error_responses(*POLICY_REFUSALS, "maintenance_window_over"),
)
def cancel_window(request: Request, uow: ApiUnit, window_id: WindowId) -> MaintenanceWindowPublic:
    window = uow.run(service.cancel_window, window_id)
    services(request).maintenance.forget()
    return window
