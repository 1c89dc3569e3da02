"""Policy versions for bank staff: the list with statuses, a version's files, its diff
against another (side by side, changed lines highlighted), the impact on past decisions,
and approve / reject / activate for whoever the policy lets (the same services as the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from admin import forms
from admin.deps import CheckedForm, ConsoleUnit
from admin.forms import Entry
from admin.views import redirect, render
from core.context import RequestContext
from core.fields import MAX_ID
from core.policy.replay import Impact
from core.policy_versions import rollout, service
from core.policy_versions.schemas import ImpactRequest, PolicyRejection

router = APIRouter()

VersionId = Annotated[int, Path(ge=1, le=MAX_ID)]
Against = Annotated[str, Query(max_length=12)]


def versions_page(request: Request, session: Session, ctx: RequestContext) -> HTMLResponse:
    versions = service.list_versions(session, ctx)
    return render(
        request, session, ctx, "policy_versions.html", title="Policy versions", versions=versions
    )


@router.get("/policy/versions", name="console.policy_versions")
def versions(request: Request, uow: ConsoleUnit) -> HTMLResponse:
    return uow.run(lambda session, ctx: versions_page(request, session, ctx))


def version_page(
    request: Request,
    session: Session,
    ctx: RequestContext,
    version_id: int,
    *,
    against: int | None = None,
    impact: Impact | None = None,
    status: int = 200,
    problem: str = "",
    rejection: Entry | None = None,
) -> HTMLResponse:
    version = service.get_version(session, ctx, version_id)
    others = [v for v in service.list_versions(session, ctx) if v.id != version_id]
    if against is None and version.tenant_id is not None:
        # A company's extension, against its earlier one (none: its files alone are shown).
        against = next((v.id for v in others if v.tenant_id == version.tenant_id), None)
    elif against is None:
        # By default, against the version in force (or, for that one, the one before it).
        active = service.active_version_id(session, ctx)
        platform = (v.id for v in others if v.tenant_id is None)
        against = active if active != version_id else next(platform, None)
    diff = service.diff_versions(session, ctx, version_id, against) if against else None
    return render(
        request,
        session,
        ctx,
        "policy_version.html",
        status=status,
        title=f"Policy version {version.id}",
        version=version,
        others=others,
        diff=diff,
        impact=impact,
        choices=service.version_choices(session, ctx, version_id),
        problem=problem,
        rejection=rejection or Entry(),
    )


def _id(text: str) -> int | None:
    return int(text) if text.isdigit() and 1 <= int(text) <= MAX_ID else None


@router.get("/policy/versions/{version_id}", name="console.policy_version")
def version(
    request: Request, uow: ConsoleUnit, version_id: VersionId, against: Against = ""
) -> HTMLResponse:
    return uow.run(
        lambda session, ctx: version_page(request, session, ctx, version_id, against=_id(against))
    )


@router.post("/policy/versions/{version_id}/impact", name="console.policy_version_impact")
def impact(
    request: Request, uow: ConsoleUnit, version_id: VersionId, form: CheckedForm
) -> HTMLResponse:
    # Reads only: the page answers with the replay's counts (the last 7 days).
    def work(session: Session, ctx: RequestContext) -> HTMLResponse:
        found = rollout.impact(session, ctx, version_id, ImpactRequest())
        return version_page(request, session, ctx, version_id, impact=found)

    return uow.run(work)


def _step(uow: ConsoleUnit, request: Request, version_id: int, step: str) -> Response:
    def read(session: Session, ctx: RequestContext, entry: Entry) -> int:
        return version_id

    def act(session: Session, ctx: RequestContext, vid: int) -> Response:
        if step == "approve":
            service.approve(session, ctx, vid)
        else:
            # For all (the bank's default); an extension for its own company.
            rollout.activate(session, ctx, vid, None)
        return redirect(f"/policy/versions/{vid}", done=f"version-{step}d")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        problem = entry.errors.get("", "")
        return version_page(request, session, ctx, version_id, status=code, problem=problem)

    return forms.handle_form(uow, read, act, again)


@router.post("/policy/versions/{version_id}/approve", name="console.approve_policy_version")
def approve(
    request: Request, uow: ConsoleUnit, version_id: VersionId, form: CheckedForm
) -> Response:
    return _step(uow, request, version_id, "approve")


@router.post("/policy/versions/{version_id}/activate", name="console.activate_policy_version")
def activate(
    request: Request, uow: ConsoleUnit, version_id: VersionId, form: CheckedForm
) -> Response:
    return _step(uow, request, version_id, "activate")


@router.post("/policy/versions/{version_id}/reject", name="console.reject_policy_version")
def reject(
    request: Request, uow: ConsoleUnit, version_id: VersionId, form: CheckedForm
) -> Response:
    reason = forms.text(form, "reason", 500)

    def read(session: Session, ctx: RequestContext, entry: Entry) -> PolicyRejection | None:
        entry.values["reason"] = reason
        return forms.build(entry, PolicyRejection, reason=reason)

    def act(session: Session, ctx: RequestContext, body: PolicyRejection) -> Response:
        service.reject(session, ctx, version_id, body.reason)
        return redirect(f"/policy/versions/{version_id}", done="version-rejected")

    def again(session: Session, ctx: RequestContext, entry: Entry, code: int) -> Response:
        problem = entry.errors.get("", "")
        return version_page(
            request, session, ctx, version_id, status=code, problem=problem, rejection=entry
        )

    return forms.handle_form(uow, read, act, again, fields=("reason",))
