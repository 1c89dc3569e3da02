"""Liveness and readiness: no token needed."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import services
from api.errors import CODES_KEY, ErrorBody
from core import migrate
from core.policy import engine as policy_engine
from core.policy import registry

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up, and the policy version it decides under")
def healthz() -> dict[str, str | int | None]:
    # The version is this process's: after an activation each worker names the new one as
    # soon as it switched (core.policy_versions.reload), and `worker` tells them apart.
    # `policy_serial`: the change of what is in force (an activation, a tenant's pin or
    # extension) this process has taken in; null before it read any.
    version = policy_engine.current().version
    return {
        "status": "ok",
        "policy_version": version,
        "policy_serial": registry.REGISTRY.assignments.serial,
        "worker": os.getpid(),
    }


@router.get(
    "/readyz",
    summary="The database is reachable and migrated",
    responses={
        503: {
            "model": ErrorBody,
            "description": "Not ready: the database cannot be reached, or is not migrated. "
            "error is `database_unavailable`; status is `unavailable`.",
            CODES_KEY: ["database_unavailable"],
        }
    },
)
def readyz(request: Request) -> JSONResponse:
    svc = services(request)
    try:
        with svc.db.engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:
        return _not_ready(f"database unreachable: {type(exc).__name__}")
    head = migrate.head_revision()
    if revision != head:
        return _not_ready(f"database at {revision}, code expects {head}")
    return JSONResponse({"status": "ready", "revision": revision})


def _not_ready(detail: str) -> JSONResponse:
    # The error shape of every other answer, and the status field probes read.
    body = {"error": "database_unavailable", "detail": detail, "status": "unavailable"}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})
