"""A company's extension: rules bank staff write on one customer's request ("no payments to
new beneficiaries on Fridays"), versions of their own scoped to that tenant, through the
same steps as the platform's (propose -> validate -> diff -> impact -> a second person
approves -> activate, the same routes and the same four eyes).

An extension holds tenant_refuses rules only (core.policy.tenant_rules, checked when it is
proposed): the platform's decide.polar asks them once it allows, so they only ever refuse.
Its hash names its company too, so two companies may carry the same text. Activated, it is
in force for its company alone (core.policy_versions.assignments.apply)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.context import RequestContext
from core.errors import Conflict
from core.models.iam import Tenant
from core.models.policy_versions import PolicyVersion
from core.policy import engine as policy_engine
from core.policy.engine import PolicyEngine, PolicyFile
from core.policy.service import authorize, tenant_within_reach
from core.policy_versions import repository as repo
from core.policy_versions.extension_validation import validate_extension
from core.policy_versions.schemas import PolicyProposal, PolicyVersionPublic
from core.policy_versions.service import store_proposal, version_resource
from core.policy_versions.validation import refusal


def propose(session: Session, ctx: RequestContext, proposal: PolicyProposal) -> PolicyVersionPublic:
    """Store a company's proposed extension once it is valid (its shape, it loads beside the
    platform version the company runs, its cases pass and cover each of its reasons); refused
    otherwise, 422 policy_invalid, storing nothing. The company must be of the caller's bank."""
    authorize(
        session,
        ctx,
        "policy_version.propose",
        version_resource(session, ctx),
        not_found="not found",
    )
    assert proposal.tenant_id is not None
    tenant = tenant_within_reach(session, ctx, proposal.tenant_id)
    assert tenant.id is not None
    files = [PolicyFile(name, text) for name, text in proposal.files.items()]
    hash_ = extension_hash(tenant.id, files)
    existing = repo.version_by_hash(session, hash_)
    if existing is not None:
        raise Conflict(
            f"version {existing.id} is {tenant.name}'s extension with exactly these files "
            f"({existing.status})",
            code="policy_version_exists",
        )
    report = validate_extension(
        proposal.files, platform=platform_of(session, tenant), cases=proposal.cases
    )
    if not report.ok:
        raise refusal(report, "the extension")
    return store_proposal(session, ctx, proposal, hash_, report, tenant_id=tenant.id)


def extension_hash(tenant_id: int, files: list[PolicyFile]) -> str:
    """An extension's version: its files and its company (the same text for two companies is
    two versions)."""
    return PolicyEngine.version_of_files([*files, PolicyFile("tenant", str(tenant_id))])


def platform_of(session: Session, tenant: Tenant) -> PolicyEngine:
    """An engine of the platform version the tenant runs now (its pin, or the default)."""
    row = repo.tenant_policy(session, tenant.id or 0)
    version_id = row.version_id if row and row.version_id else None
    if version_id is None:
        pointer = repo.active_pointer(session)
        version_id = pointer.version_id if pointer else None
    version = repo.version(session, version_id) if version_id else None
    if version is None:
        return policy_engine.current()
    return PolicyEngine(
        [PolicyFile(name, text) for name, text in version.files.items()],
        source=f"policy version {version.id}",
    )


def engine_with(platform: PolicyEngine, extension: PolicyVersion) -> PolicyEngine:
    """`platform` with a stored extension loaded beside it (for a replay)."""
    return PolicyEngine(
        platform.files,
        extension=[PolicyFile(name, text) for name, text in extension.files.items()],
        extension_version=extension.hash,
        source=f"{platform.source} with extension {extension.id}",
    )
