"""The console as an application of its own, mounted at /console on the API's app.

A mounted app keeps the console's HTML error pages apart from the API's JSON errors, and its
routes out of the OpenAPI document; it shares the API's services (core.runtime: database,
passwords, clock) and the one unit of work (core.uow), so the two cannot drift apart."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from admin import errors
from admin.routes import (
    access,
    accounts,
    activity,
    approval_rules,
    auth,
    bank,
    beneficiaries,
    change_requests,
    compliance,
    evidence,
    iam,
    maintenance_windows,
    payment_batches,
    payments,
    personal_data,
    policy_versions,
    second_factor,
    statements,
    tenant_policy,
    transfers,
)
from admin.views import HERE, PREFIX
from core.runtime import Services


def create_console(services: Services) -> FastAPI:
    # No trailing-slash redirects: Starlette builds them from the Host header (see api.app).
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    console.state.services = services
    errors.install(console)
    console.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in (
        auth.router,
        second_factor.router,
        accounts.router,
        transfers.router,
        payments.router,
        payment_batches.router,
        approval_rules.router,
        activity.router,
        iam.router,
        bank.router,
        access.router,
        beneficiaries.router,
        compliance.router,
        evidence.router,
        personal_data.router,
        change_requests.router,
        policy_versions.router,
        statements.router,
        tenant_policy.router,
        maintenance_windows.router,
    ):
        console.include_router(router)
    return console


def mount(app: FastAPI) -> None:
    """Serve the console at /console, over the app's own services; /console itself redirects
    to the console's home with a relative Location (never one built from the Host header)."""

    async def console_home(request: Request) -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    # A plain route, not an API operation: the console's pages do their own sign-in.
    app.add_route(PREFIX, console_home, methods=["GET"], include_in_schema=False)
    app.mount(PREFIX, create_console(app.state.services), name="console")
