"""Policy per tenant: for bank staff, which tenant runs which version and which extension,
each approved version's rollout (to chosen tenants first, with the impact of each step, then
to all), and a tenant moved back to the default or relieved of its extension; for a
company's admins, their company's own rules in words. The same services as the API: four
eyes, refusals and all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit
from admin.forms import Entry
from admin.views import redirect, render
from core.context import RequestContext
from core.fields import MAX_ID
from core.policy.replay import Impact
from core.policy_versions import assignments, rollout, service
from core.policy_versions.schemas import ImpactRequest
from core.policy_versions.tenant_schemas import ActivationTarget, TenantPolicyPut

router = APIRouter()

Id = Annotated[int, Path(ge=1, le=MAX_ID)]


def tenants_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    *,
    impact: Impact | None = None,
    impact_version: int | None = None,
    status: int = 200,
    problem: str = "",
) -> HTMLResponse:
    held = assignments.list_assignments(session, ctx)
    versions = service.list_versions(session, ctx)
    names = {t.tenant_id: t.tenant for t in held.tenants}
    return render(
        request,
        session,
        ctx,
        "tenant_policies.html",
        status=status,
        title="Policy per tenant",
        assignments=held,
        # Approved versions of the platform: what a rollout can take to tenants.
        candidates=[v for v in versions if v.tenant_id is None and v.status == "approved"],
        extensions={v.id: v for v in versions if v.tenant_id is not None},
        names=names,
        impact=impact,
        impact_version=impact_version,
        problem=problem,
    )


@router.get("/policy/tenants", name="console.tenant_policies")
def tenants(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    return uow.run(lambda session, ctx: tenants_page(request, session, ctx))


def _ticked(form: CheckedForm) -> list[int]:
    ids = [int(v) for v in form.getlist("tenants") if isinstance(v, str) and v.isdigit()]
    return [t for t in ids if 1 <= t <= MAX_ID][:1000]


def _chosen(session: Session, ctx: RequestContext, form: CheckedForm) -> list[int]:
    """The tenants ticked; none ticked: every tenant that follows the default (what
    promoting a version to all moves)."""
    ticked = _ticked(form)
    if ticked:
        return ticked
    return [t.tenant_id for t in assignments.list_assignments(session, ctx).tenants if not t.pinned]


@router.post("/policy/rollouts/{version_id}/impact", name="console.rollout_impact")
def step_impact(
    request: Request, uow: ConsoleUnit, version_id: Id, form: CheckedForm
) -> HTMLResponse:
    """Reads only: the replay of the last 7 days of the tenants the step would move."""

    def work(session: Session, ctx: RequestContext) -> HTMLResponse:
        tenants = _chosen(session, ctx, form)
        found = rollout.impact(session, ctx, version_id, ImpactRequest(tenants=tenants or None))
        return tenants_page(request, session, ctx, impact=found, impact_version=version_id)

    return uow.run(work)


@router.post("/policy/rollouts/{version_id}/step", name="console.rollout_step")
def step(request: Request, uow: ConsoleUnit, version_id: Id, form: CheckedForm) -> Response:
    """A step: to the tenants ticked, or (the promote-to-all button) to every tenant."""
    every = form.get("all") == "yes"
    ticked = _ticked(form)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> ActivationTarget | None:
        if not every and not ticked:
            entry.error("", "Tick the tenants to roll the version out to, or promote it to all.")
            return None
        return ActivationTarget(tenants=None if every else ticked)

    def act(session: Session, ctx: RequestContext, target: ActivationTarget) -> Response:
        rollout.activate(session, ctx, version_id, target if target.tenants else None)
        return redirect("/policy/tenants", done="rollout-step")

    return forms.handle_form(uow, read, act, _again(request))


def _again(request: Request) -> forms.Show:
    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        problem = entry.errors.get("", "")
        return tenants_page(request, session, ctx, status=code, problem=problem)

    return again


@router.post("/policy/tenants/{tenant_id}/move-back", name="console.tenant_move_back")
def move_back(request: Request, uow: ConsoleUnit, tenant_id: Id, form: CheckedForm) -> Response:
    """Back to the bank's default, its extension kept; or, with `drop`, its extension taken
    away, its version kept."""
    drop = form.get("drop") == "extension"

    def read(session: Session, ctx: RequestContext, entry: Entry) -> TenantPolicyPut:
        now = next(
            (
                t
                for t in assignments.list_assignments(session, ctx).tenants
                if t.tenant_id == tenant_id
            ),
            None,
        )
        pinned = now.version_id if now is not None and now.pinned else None
        extension = now.extension_id if now is not None else None
        return TenantPolicyPut(
            version_id=pinned if drop else None, extension_id=None if drop else extension
        )

    def act(session: Session, ctx: RequestContext, body: TenantPolicyPut) -> Response:
        assignments.set_tenant_policy(session, ctx, tenant_id, body)
        return redirect("/policy/tenants", done="tenant-moved")

    return forms.handle_form(uow, read, act, _again(request))


@router.get("/company-rules", name="console.company_rules")
def company_rules(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    """A corporate admin's view of their own company's extra rules, in words."""

    def work(session: Session, ctx: RequestContext) -> HTMLResponse:
        tenant_id = ctx.require_actor().tenant_id
        rules = assignments.company_rules(session, ctx, tenant_id) if tenant_id else None
        return render(
            request, session, ctx, "company_rules.html", title="Your company's rules", rules=rules
        )

    return uow.run(work)
