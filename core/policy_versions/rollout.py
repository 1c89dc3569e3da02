"""A version goes out the way the bank chooses, through the routes of every version:

* a platform version to chosen tenants first (a canary: each is pinned to it), then to all
  (it becomes the bank's default; the tenants pinned to it follow the default again);
* a company's extension to its company alone.

Before each step, its impact: the decisions of the tenants it targets, replayed under the
policy each would run after it (the version, with the tenant's own extension). Proposing
goes the same way: a proposal with a tenant is that company's extension. Every step is under
the four eyes of activation (core.policy_versions.assignments)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.orm import Session

from core.audit.changes import record_change
from core.context import RequestContext
from core.errors import Conflict, InvalidRequest
from core.models.policy_versions import PolicyVersion
from core.policy.engine import PolicyEngine, PolicyError, PolicyFile
from core.policy.impacts import combined
from core.policy.replay import DEFAULT_WINDOW, Impact
from core.policy.replay import impact as replay_impact
from core.policy.service import tenant_within_reach
from core.policy_versions import assignments, extensions, service
from core.policy_versions import repository as repo
from core.policy_versions.schemas import ImpactRequest, PolicyProposal, PolicyVersionPublic
from core.policy_versions.tenant_schemas import ActivationTarget


def propose(session: Session, ctx: RequestContext, proposal: PolicyProposal) -> PolicyVersionPublic:
    """A version of the platform's policy, or (with a tenant) that company's extension."""
    if proposal.tenant_id is not None:
        return extensions.propose(session, ctx, proposal)
    return service.propose(session, ctx, proposal)


def activate(
    session: Session, ctx: RequestContext, version_id: int, target: ActivationTarget | None
) -> PolicyVersionPublic:
    """Put a version in force: an extension for its company; a platform version for the
    tenants named (pinned to it), or, naming none, for every tenant (the bank's default)."""
    row = service.readable_version(session, ctx, version_id)
    tenants = target.tenants if target is not None else None
    if row.tenant_id is not None:
        if tenants is not None and tenants != [row.tenant_id]:
            raise InvalidRequest("an extension is in force for its own company alone")
        tenant = tenant_within_reach(session, ctx, row.tenant_id)
        held = repo.tenant_policy(session, row.tenant_id)
        pinned = held.version_id if held is not None else None
        assignments.apply(session, ctx, tenant, version_id=pinned, extension_id=row.id)
    elif tenants is not None:
        for tenant_id in dict.fromkeys(tenants):
            tenant = tenant_within_reach(session, ctx, tenant_id)
            held = repo.tenant_policy(session, tenant_id)
            carries = held.extension_id if held is not None else None
            assignments.apply(session, ctx, tenant, version_id=row.id, extension_id=carries)
    else:
        _extensions_load_with(session, row)
        service.activate(session, ctx, version_id)
        _follow_default(session, ctx, row)
    return service.get_version(session, ctx, version_id)


def impact(
    session: Session, ctx: RequestContext, version_id: int, request: ImpactRequest
) -> Impact:
    """The impact of a step: an extension's on its company's decisions; a platform version's
    on the tenants named, each under the version with its own extension; naming none, on
    every decision of the window under the version (core.policy_versions.service.impact)."""
    row = service.readable_version(session, ctx, version_id)
    if row.tenant_id is None and request.tenants is None:
        return service.impact(session, ctx, version_id, request)
    window = _window(ctx, request)
    if row.tenant_id is not None:
        tenant = tenant_within_reach(session, ctx, row.tenant_id)
        engine = extensions.engine_with(extensions.platform_of(session, tenant), row)
        return _replay(session, engine, window, [row.tenant_id])
    platform = _engine(row)
    groups: dict[int | None, list[int]] = defaultdict(list)
    for tenant_id in dict.fromkeys(request.tenants or []):
        tenant_within_reach(session, ctx, tenant_id)
        held = repo.tenant_policy(session, tenant_id)
        groups[held.extension_id if held is not None else None].append(tenant_id)
    carried = repo.versions_by_id(session, groups)
    parts = [
        _replay(
            session,
            platform if extension is None else extensions.engine_with(platform, carried[extension]),
            window,
            tenant_ids,
        )
        for extension, tenant_ids in groups.items()
    ]
    return combined(parts, request.samples)


@dataclass(frozen=True)
class _Window:
    since: dt.datetime
    until: dt.datetime
    limit: int
    samples: int


def _window(ctx: RequestContext, request: ImpactRequest) -> _Window:
    # Half-open, [since, until): by default it ends just after this moment.
    until = request.until or ctx.now() + dt.timedelta(seconds=1)
    since = request.since or until - DEFAULT_WINDOW
    if since >= until:
        raise InvalidRequest("since must be before until")
    return _Window(since, until, request.limit, request.samples)


def _replay(
    session: Session, engine: PolicyEngine, window: _Window, tenant_ids: list[int]
) -> Impact:
    return replay_impact(
        session,
        engine,
        since=window.since,
        until=window.until,
        limit=window.limit,
        samples=window.samples,
        tenant_ids=tenant_ids,
    )


def _engine(row: PolicyVersion) -> PolicyEngine:
    return PolicyEngine(
        [PolicyFile(name, text) for name, text in row.files.items()],
        source=f"policy version {row.id}",
    )


def _extensions_load_with(session: Session, row: PolicyVersion) -> None:
    """Before a version becomes the default: every extension of a tenant that follows the
    default loads beside it (else 409, and nothing changes)."""
    following = repo.following_default(session)
    carried = repo.versions_by_id(session, (t.extension_id for t in following))
    platform = _engine(row)
    for held in following:
        extension = carried.get(held.extension_id or 0)
        if extension is None:
            continue
        try:
            extensions.engine_with(platform, extension)
        except PolicyError as exc:
            raise Conflict(
                f"tenant {held.tenant_id}'s extension {extension.id} does not load with "
                f"version {row.id}: {exc}",
                code="policy_version_incompatible",
            ) from exc


def _follow_default(session: Session, ctx: RequestContext, row: PolicyVersion) -> None:
    """The tenants pinned to the version now in force for all follow the default again."""
    actor = ctx.require_actor()
    for held in repo.pinned_to(session, row.id or 0, lock=True):
        held.version_id = None
        held.changed_at = ctx.now()
        held.changed_by_id = actor.user_id
        # The change log's 20 characters: the version is the activation's own record.
        record_change(ctx, assignments.ENTITY, held.tenant_id, "follows default", held.tenant_id)
