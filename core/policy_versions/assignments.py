"""What each tenant runs: the bank's default, or a platform version it is pinned to, with its
company's extension or none. Each tenant is on exactly one of each at a time.

A tenant's policy changes one way only (`apply`), whoever asks (PUT /v1/tenants/{id}/policy,
a rollout's step, an extension's activation): every version the tenant newly runs is put in
force for it under the policy's four eyes (policy_version.activate: never by who proposed
that version; a version in force before, approved afresh, never by who approved it), so no
rules reach a tenant that fewer than two people put there. Moving a tenant back to the default
(or dropping its extension) puts the default in force for it, under the same rule. The change
is checked to load, written with who and when, logged (entity tenant_policy, before and
after), and moves the deployment pointer's serial: every process rebuilds its map
(core.policy_versions.reload), within the seconds an activation takes."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.audit.changes import record_change
from core.context import RequestContext
from core.errors import Conflict, NotFound
from core.models.iam import Tenant
from core.models.policy_versions import ActivePolicy, PolicyVersion, TenantPolicy
from core.policy.engine import PolicyEngine, PolicyError, PolicyFile
from core.policy.facts import Resource
from core.policy.service import authorize, require_readable, tenant_within_reach
from core.policy_versions import repository as repo
from core.policy_versions.public import rules_in_words
from core.policy_versions.service import version_resource
from core.policy_versions.tenant_schemas import (
    CompanyRules,
    PolicyAssignments,
    TenantPolicyPublic,
    TenantPolicyPut,
)

ENTITY = "tenant_policy"


def list_assignments(session: Session, ctx: RequestContext) -> PolicyAssignments:
    """Every tenant of the caller's bank and what it runs (staff reading policy versions)."""
    actor = ctx.require_actor()
    require_readable(
        session, ctx, "policy_version.read", version_resource(session, ctx), not_found="not found"
    )
    pointer = repo.active_pointer(session)
    tenants = repo.tenants_of_bank(session, actor.bank_id)
    rows = repo.tenant_policies_of(session, (t.id for t in tenants if t.id is not None))
    versions = repo.versions_by_id(
        session,
        [pointer.version_id if pointer else None]
        + [i for r in rows.values() for i in (r.version_id, r.extension_id)],
    )
    default = versions.get(pointer.version_id) if pointer else None
    names = repo.usernames(session, (r.changed_by_id for r in rows.values()))
    return PolicyAssignments(
        default_version_id=default.id if default else None,
        default_hash=default.hash if default else None,
        tenants=[
            public_of(tenant, rows.get(tenant.id or 0), default, versions, names)
            for tenant in tenants
            if default is not None
        ],
    )


def set_tenant_policy(
    session: Session, ctx: RequestContext, tenant_id: int, body: TenantPolicyPut
) -> TenantPolicyPublic:
    """Pin a tenant to a version or move it back to the default (version_id null), and put its
    company's extension in force or take it away (extension_id null)."""
    tenant = tenant_within_reach(session, ctx, tenant_id)
    return apply(session, ctx, tenant, version_id=body.version_id, extension_id=body.extension_id)


def apply(
    session: Session,
    ctx: RequestContext,
    tenant: Tenant,
    *,
    version_id: int | None,
    extension_id: int | None,
) -> TenantPolicyPublic:
    """The one way a tenant's policy changes (see the module's docstring)."""
    assert tenant.id is not None
    repo.serialize_activations(session)
    pointer = _pointer(session)
    default = repo.version(session, pointer.version_id)
    assert default is not None
    held = repo.tenant_policy(session, tenant.id, lock=True)
    current = held or TenantPolicy(tenant_id=tenant.id)
    versions = repo.versions_by_id(
        session, (current.version_id, current.extension_id, version_id, extension_id)
    )
    names = repo.usernames(session, [held.changed_by_id if held else None])
    before = public_of(tenant, held, default, versions, names)
    if (version_id, extension_id) == (current.version_id, current.extension_id):
        return before  # nothing changes: nothing to ask, write or tell the processes
    runs = _platform(versions, version_id, current, default)
    extension = _extension(versions, extension_id, current, tenant)
    _four_eyes(session, ctx, current, runs, version_id, extension)
    _loads(runs, extension, tenant)
    _write(session, ctx, current, version_id, extension, versions)
    if held is None:
        session.add(current)
    _move(session, pointer, ctx)
    session.flush()
    actor = ctx.require_actor()
    after = public_of(tenant, current, default, versions, repo.usernames(session, [actor.user_id]))
    record_change(ctx, ENTITY, tenant.id, "changed", tenant.id, before, after)
    return after


def company_rules(session: Session, ctx: RequestContext, tenant_id: int) -> CompanyRules:
    """A company's own rules in words, for its people (corporate admins) and its bank's staff;
    another company's are not there (404), whether it has some or not."""
    actor = ctx.require_actor()
    tenant = session.get(Tenant, tenant_id)
    missing = f"tenant {tenant_id} not found"
    bank_id = tenant.bank_id if tenant is not None else actor.bank_id
    require_readable(
        session, ctx, "tenant_rule.read", Resource.of_tenant(tenant_id, bank_id), not_found=missing
    )
    if tenant is None:
        raise NotFound(missing)
    row = repo.tenant_policy(session, tenant_id)
    extension = repo.version(session, row.extension_id) if row and row.extension_id else None
    return CompanyRules(
        tenant_id=tenant_id,
        rules=rules_in_words(extension) if extension is not None else [],
        in_force_since=extension.activated_at if extension is not None else None,
    )


def public_of(
    tenant: Tenant,
    row: TenantPolicy | None,
    default: PolicyVersion,
    versions: dict[int, PolicyVersion],
    names: dict[int, str],
) -> TenantPolicyPublic:
    assert tenant.id is not None and default.id is not None
    pinned = versions.get(row.version_id) if row and row.version_id else None
    runs = pinned or default
    extension = versions.get(row.extension_id) if row and row.extension_id else None
    assert runs.id is not None
    return TenantPolicyPublic(
        tenant_id=tenant.id,
        tenant=tenant.name,
        version_id=runs.id,
        version_hash=runs.hash,
        pinned=pinned is not None,
        extension_id=extension.id if extension else None,
        extension_hash=extension.hash if extension else None,
        rules=rules_in_words(extension) if extension else [],
        changed_at=row.changed_at if row else None,
        changed_by=names.get(row.changed_by_id) if row and row.changed_by_id else None,
    )


# -- the steps of apply ------------------------------------------------------------------


def _pointer(session: Session) -> ActivePolicy:
    pointer = repo.active_pointer(session, lock=True)
    if pointer is None:
        raise Conflict(
            "no version of the policy is in force yet (mandate db upgrade records one)",
            code="policy_version_not_approved",
        )
    return pointer


def _platform(
    versions: dict[int, PolicyVersion],
    version_id: int | None,
    current: TenantPolicy,
    default: PolicyVersion,
) -> PolicyVersion:
    """The platform version the tenant will run: one approved or in force (the default), or
    the one it is pinned to already."""
    if version_id is None:
        return default
    row = versions.get(version_id)
    if row is None or row.tenant_id is not None:
        raise NotFound(f"policy version {version_id} not found")
    if row.status not in ("approved", "active") and version_id != current.version_id:
        raise Conflict(
            f"version {row.id} is {row.status}: a tenant runs an approved version or the one "
            "in force"
            + (" (a retired one needs a fresh approval)" if row.status == "retired" else ""),
            code="policy_version_not_approved",
        )
    return row


def _extension(
    versions: dict[int, PolicyVersion],
    extension_id: int | None,
    current: TenantPolicy,
    tenant: Tenant,
) -> PolicyVersion | None:
    """The extension the tenant will carry: its own company's, approved, or the one it
    carries already."""
    if extension_id is None:
        return None
    row = versions.get(extension_id)
    if row is None or row.tenant_id != tenant.id:
        # Another company's extension is not there for this one.
        raise NotFound(f"policy version {extension_id} not found")
    if row.status != "approved" and extension_id != current.extension_id:
        raise Conflict(
            f"extension {row.id} is {row.status}: only an approved one is put in force",
            code="policy_version_not_approved",
        )
    return row


def _four_eyes(
    session: Session,
    ctx: RequestContext,
    current: TenantPolicy,
    runs: PolicyVersion,
    version_id: int | None,
    extension: PolicyVersion | None,
) -> None:
    """Every version the tenant newly runs is activated for it by someone other than who
    proposed it (policy_version.activate); dropping the extension puts the platform version
    alone in force for it."""
    extension_id = extension.id if extension else None
    if version_id != current.version_id or (extension is None and current.extension_id):
        authorize(session, ctx, "policy_version.activate", _step(session, ctx, runs))
    if extension is not None and extension_id != current.extension_id:
        authorize(session, ctx, "policy_version.activate", _step(session, ctx, extension))


def _step(session: Session, ctx: RequestContext, row: PolicyVersion) -> Resource:
    """The version, as activating it for one tenant is asked: a rollback only when it is an
    earlier version approved afresh (the default in force is none)."""
    rollback = row.status == "approved" and row.activated_at is not None
    return version_resource(session, ctx, row, rollback=rollback)


def _loads(runs: PolicyVersion, extension: PolicyVersion | None, tenant: Tenant) -> None:
    """The tenant's engine builds: its extension loads beside the platform version (it was
    validated with the version the tenant ran when it was proposed)."""
    if extension is None:
        return
    try:
        PolicyEngine(
            [PolicyFile(n, t) for n, t in runs.files.items()],
            extension=[PolicyFile(n, t) for n, t in extension.files.items()],
            source=f"policy version {runs.id} with {tenant.name}'s extension",
        )
    except PolicyError as exc:
        raise Conflict(
            f"{tenant.name}'s extension {extension.id} does not load with version {runs.id}: {exc}",
            code="policy_version_incompatible",
        ) from exc


def _write(
    session: Session,
    ctx: RequestContext,
    row: TenantPolicy,
    version_id: int | None,
    extension: PolicyVersion | None,
    versions: dict[int, PolicyVersion],
) -> None:
    now = ctx.now()
    actor = ctx.require_actor()
    extension_id = extension.id if extension else None
    if row.extension_id is not None and row.extension_id != extension_id:
        dropped = versions.get(row.extension_id)
        if dropped is not None and dropped.status == "active":
            dropped.status = "retired"
            dropped.retired_at = now
            # As a platform version: it comes back only with a fresh approval.
            dropped.approved_by_id = None
            dropped.approved_at = None
    if extension is not None and extension.status == "approved":
        extension.status = "active"
        extension.activated_by_id = actor.user_id
        extension.activated_at = now
        extension.retired_at = None
    row.version_id = version_id
    row.extension_id = extension_id
    row.changed_at = now
    row.changed_by_id = actor.user_id


def _move(session: Session, pointer: ActivePolicy, ctx: RequestContext) -> None:
    """What some tenant runs changed: the serial every process polls moves on."""
    pointer.serial += 1
    pointer.changed_at = ctx.now()
    repo.notify(session, pointer.serial)
