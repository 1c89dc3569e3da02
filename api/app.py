"""The FastAPI application: /v1 API, health checks, OpenAPI docs (served locally)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from admin.app import mount as mount_console
from admin.errors import maintenance_page
from api import errors, tracing
from api.maintenance import MaintenanceGate
from api.middleware import BodyLimits, SecurityHeaders, UnexpectedErrors
from api.observability import RequestTelemetry, metrics_answer
from api.routers import (
    access,
    accounts,
    activity,
    api_clients,
    audit,
    auth,
    authzen,
    beneficiaries,
    change_requests,
    compliance,
    health,
    iam,
    maintenance_windows,
    oauth,
    payment_batches,
    payments,
    personal_data,
    policy_versions,
    second_factor,
    tenant_policy,
    transfers,
)
from core import migrate
from core.audit.periodic import PeriodicCheckpoints
from core.clock import Clock, SystemClock
from core.db import Database
from core.iam.credentials import Passwords, TokenService
from core.iam.totp import second_factor_box
from core.operations.schedule import MaintenanceSchedule
from core.policy import engine as policy_engine
from core.policy_versions.reload import PolicyWatcher
from core.runtime import Services, compose, load_audit_key
from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("mandate")

DESCRIPTION = """
Mandate: a ledger and account API where every request is decided by a declarative policy
(`policies/*.polar`, evaluated by oso).

**Sign in**: `POST /v1/auth/token` with a username and password (the *Authorize* button
does it for you), and `otp`, the code of your authenticator app, once you set one up
(`/v1/me/totp`); then send `Authorization: Bearer <token>`.

**Step-up**: where a company asks for a recent code (approvals, beneficiaries, money above
its amount), a token without one is answered 401 `step_up_required` with
`WWW-Authenticate: Bearer error="insufficient_user_authentication", max_age="…"` (RFC 9470):
sign in again with `otp` and send the request again.

**Money** is in integer minor units (cents for EUR). Money-moving requests need an
`Idempotency-Key` header: a retry with the same key and body is answered with the stored
response (`Idempotent-Replayed: true`), never a second transfer.

**Errors** always look like `{"error": "<code>", "detail": "<message>"}`. A resource you
may not see answers 404; an action the policy refuses answers 403 with the policy's reason.
"""


class NotMigrated(RuntimeError):
    pass


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock | None = None,
    check_migrations: bool = True,
    tracer_provider: TracerProvider | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    if check_migrations and not migrate.is_up_to_date(settings.database_url):
        raise NotMigrated(
            f"the database at {settings.database_url} is not migrated to "
            f"{migrate.head_revision()}; run: mandate db upgrade"
        )
    db = database or Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        transaction_pooling=settings.database_transaction_pooling,
    )
    policy_engine.ensure_loaded(settings.policy_dir, compile=settings.policy_compile)
    compose()
    watcher = PolicyWatcher(
        db,
        poll_seconds=settings.policy_poll_seconds,
        # A LISTEN does not survive transaction pooling: polling alone there.
        listen=settings.policy_listen and not db.transaction_pooling,
        compile=settings.policy_compile,
    )
    # Start on the version in force (stored versions win over the bundled files once one is
    # stored), then follow activations while serving. An app built without checking the
    # database (tests of outages, the OpenAPI document) starts on the bundled files.
    if check_migrations:
        watcher.poll()

    clock = clock or SystemClock()
    audit_key = load_audit_key(settings)
    checkpoints = PeriodicCheckpoints(
        db, audit_key, clock, every_seconds=settings.audit_checkpoint_seconds
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.policy_watch:
            watcher.start()
        if settings.audit_checkpoint_seconds:
            checkpoints.start()
        try:
            yield
        finally:
            checkpoints.stop()
            watcher.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Mandate",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        swagger_ui_oauth2_redirect_url=None,
        # Starlette's trailing-slash redirect builds an absolute URL from the Host header,
        # which a client chooses: no such redirects (see mount_console for /console).
        redirect_slashes=False,
    )
    box = second_factor_box(settings)
    app.state.services = Services(
        settings=settings,
        db=db,
        passwords=Passwords(settings),
        tokens=TokenService(settings, db, box),
        clock=clock,
        box=box,
        audit_key=audit_key,
        maintenance=MaintenanceSchedule(
            db,
            ttl_seconds=settings.maintenance_poll_seconds,
            notice=dt.timedelta(days=settings.maintenance_notice_days),
        ),
    )
    app.state.policy_watcher = watcher
    app.state.periodic_checkpoints = checkpoints
    errors.install(app)
    for router in (
        health.router,
        auth.router,
        oauth.router,
        second_factor.router,
        iam.router,
        api_clients.router,
        accounts.router,
        transfers.router,
        payments.router,
        payment_batches.router,
        activity.router,
        access.router,
        beneficiaries.router,
        compliance.router,
        audit.router,
        personal_data.router,
        change_requests.router,
        policy_versions.router,
        tenant_policy.router,
        authzen.router,
        maintenance_windows.router,
    ):
        app.include_router(router)
    # The operators' scrape (not an API operation: its own access rule, api.observability).
    app.add_route("/metrics", metrics_answer, methods=["GET"], include_in_schema=False)
    if settings.docs_enabled:
        _mount_docs(app)
    mount_console(app)
    # Each added around the ones before: headers on everything (the answer to an unexpected
    # error too), then that answer, then size limits; innermost, the maintenance window in
    # force (api.maintenance), which every request meets before any route runs.
    app.add_middleware(
        MaintenanceGate,
        services=app.state.services,
        console_refusal=maintenance_page,
    )
    app.add_middleware(BodyLimits)
    app.add_middleware(UnexpectedErrors)
    app.add_middleware(SecurityHeaders, always_https=settings.environment == "production")
    # Outermost: the request id, log line and metrics of every answer (api.observability).
    app.add_middleware(RequestTelemetry, db=db)
    # Around all of it, when OTEL_* ask for traces (or a test hands its provider):
    # api.tracing, off by default.
    app.state.tracing = tracing.install(app, db, tracer_provider=tracer_provider)
    return app


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI from files inside the package: a bank's API docs load nothing from a CDN."""
    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Mandate API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True, "tryItOutEnabled": True},
        )
