"""Liveness and readiness: no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import services
from core import migrate

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and migrated")
def readyz(request: Request) -> JSONResponse:
    svc = services(request)
    try:
        with svc.db.engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "detail": f"database unreachable: {type(exc).__name__}"},
            status_code=503,
        )
    head = migrate.head_revision()
    if revision != head:
        return JSONResponse(
            {"status": "unavailable", "detail": f"database at {revision}, code expects {head}"},
            status_code=503,
        )
    return JSONResponse({"status": "ready", "revision": revision})
