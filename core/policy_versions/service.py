"""Policy versions: propose (validated), read, compare, approve or reject, activate, and the
impact of a version on its bank's past decisions. Four eyes (policies/conditions.polar, on the
facts of core.policy_versions.facts): only the staff of the author's bank decide a version
(peer_required); self_approval_forbidden keeps whoever proposed a version from approving,
rejecting or activating it, and whoever approved a rollback afresh from activating it alone;
approver_tied_to_requester keeps out whoever is tied to them (core.policy.ties).

The lifecycle: proposed -> approved -> active -> retired (when another becomes active);
proposed or approved -> rejected. A retired version comes back only through a fresh approval
(retired -> approved) and an activation: a rollback. Every step is in the change log (entity
policy_version), activation with the versions before and after."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy.orm import Session

from core import bundled
from core.audit.changes import record_change
from core.context import RequestContext
from core.db import unique_or
from core.errors import Conflict, InvalidRequest, NotFound
from core.models.iam import Tenant
from core.models.policy_versions import ActivePolicy, PolicyVersion
from core.policy import engine as policy_engine
from core.policy.engine import PolicyEngine, PolicyFile
from core.policy.replay import DEFAULT_WINDOW, Impact
from core.policy.replay import impact as replay_impact
from core.policy.service import authorize, check, require_readable
from core.policy_versions import repository as repo
from core.policy_versions.diff import diff_files
from core.policy_versions.facts import version_resource
from core.policy_versions.public import names_of, public_of, summary_of
from core.policy_versions.schemas import (
    ImpactRequest,
    PolicyProposal,
    PolicyVersionDiff,
    PolicyVersionPublic,
    PolicyVersionSummary,
)
from core.policy_versions.validation import ValidationReport, refusal, validate

ENTITY = "policy_version"


class ActivationChange(BaseModel):
    """The change log's before / after of an activation: which version was in force."""

    version_id: int | None
    hash: str | None
    status: str | None


class VersionChoices(BaseModel):
    """What the caller may do with a version now: what its status allows and the policy lets
    them (the console offers only these)."""

    approve: bool
    reject: bool
    activate: bool


def version_choices(session: Session, ctx: RequestContext, version_id: int) -> VersionChoices:
    """Which of approve, reject and activate the caller may do with this version now."""
    row = _readable(session, ctx, version_id)
    resource = version_resource(session, ctx, row)

    def may(action: str, statuses: tuple[str, ...]) -> bool:
        return (
            row.status in statuses and check(session, ctx, action, resource, record=False).allowed
        )

    return VersionChoices(
        approve=may("policy_version.approve", ("proposed", "retired")),
        reject=may("policy_version.reject", ("proposed", "approved")),
        activate=may("policy_version.activate", ("approved",)),
    )


def active_version_id(session: Session, ctx: RequestContext) -> int | None:
    """The id of the version in force, if one is stored (for whoever may read versions)."""
    require_readable(
        session, ctx, "policy_version.read", version_resource(session, ctx), not_found="not found"
    )
    pointer = repo.active_pointer(session)
    return pointer.version_id if pointer else None


def list_versions(session: Session, ctx: RequestContext) -> list[PolicyVersionSummary]:
    """Every stored version, newest first (bank staff holding policy_version.read)."""
    require_readable(
        session, ctx, "policy_version.read", version_resource(session, ctx), not_found="not found"
    )
    rows = repo.versions(session, ctx.require_actor().bank_id)
    names = names_of(session, rows)
    return [summary_of(row, names) for row in rows]


def get_version(session: Session, ctx: RequestContext, version_id: int) -> PolicyVersionPublic:
    """A version with the text of every file, its cases and its validation report."""
    row = _readable(session, ctx, version_id)
    return public_of(row, names_of(session, [row]))


def diff_versions(
    session: Session, ctx: RequestContext, version_id: int, against_id: int
) -> PolicyVersionDiff:
    """Version `version_id` against `against_id`, file by file, for a side-by-side view."""
    right = _readable(session, ctx, version_id)
    left = _readable(session, ctx, against_id)
    assert right.id is not None and left.id is not None
    return PolicyVersionDiff(
        id=right.id,
        against=left.id,
        hash=right.hash,
        against_hash=left.hash,
        files=diff_files(left.files, right.files),
    )


def propose(
    session: Session,
    ctx: RequestContext,
    proposal: PolicyProposal,
    *,
    cases_dir: Path | None = None,
) -> PolicyVersionPublic:
    """Store a proposed version once it is valid: it loads, every case of policies/tests (and
    the proposal's own) passes, coverage holds (core.policy_versions.validation). Refused,
    storing nothing: 422 policy_invalid with the failures; 409 policy_version_exists for files
    already stored."""
    authorize(
        session,
        ctx,
        "policy_version.propose",
        version_resource(session, ctx),
        not_found="not found",
    )
    assert proposal.tenant_id is None, "a company's extension: core.policy_versions.extensions"
    files = [PolicyFile(name, text) for name, text in proposal.files.items()]
    hash_ = _hash(files)
    existing = repo.version_by_hash(session, hash_)
    if existing is not None:
        raise Conflict(
            f"version {existing.id} has exactly these files ({existing.status})",
            code="policy_version_exists",
        )
    # Made from a stored version's files: its case files (those it replaced of policies/tests)
    # are the rules' cases now, so the proposal is held to them too, unless it replaces them
    # in turn; stored with it, they carry on to the next proposal made from it.
    if proposal.based_on is not None:
        basis = _readable(session, ctx, proposal.based_on)
        if basis.tenant_id is not None:
            raise InvalidRequest(
                "based_on names a platform version, not a company's extension",
                code="invalid_request",
            )
        proposal = proposal.model_copy(update={"cases": {**basis.cases, **proposal.cases}})
    report, _engine = validate(
        proposal.files,
        reference=policy_engine.current(),
        cases_dir=cases_dir or bundled.policy_dir() / "tests",
        extra_cases=proposal.cases,
    )
    if not report.ok:
        raise refusal(report, "the proposal")
    return store_proposal(session, ctx, proposal, hash_, report)


def store_proposal(
    session: Session,
    ctx: RequestContext,
    proposal: PolicyProposal,
    hash_: str,
    report: ValidationReport,
    *,
    tenant_id: int | None = None,
) -> PolicyVersionPublic:
    """Store a validated proposal (the platform's, or with `tenant_id` a company's extension)
    as a proposed version by the caller, and log it."""
    row = PolicyVersion(
        hash=hash_,
        files=dict(sorted(proposal.files.items())),
        note=proposal.note,
        origin="proposal",
        author_id=ctx.require_actor().user_id,
        created_at=ctx.now(),
        status="proposed",
        validation=report.model_dump(),
        cases=dict(sorted(proposal.cases.items())),
        tenant_id=tenant_id,
    )
    # The same files proposed twice at once: the second insert meets the unique hash.
    with unique_or(
        session,
        Conflict(
            "a version with exactly these files was just stored", code="policy_version_exists"
        ),
    ):
        session.add(row)
        session.flush()
    assert row.id is not None
    names = names_of(session, [row])
    record_change(ctx, ENTITY, row.id, "proposed", tenant_id, None, summary_of(row, names))
    return public_of(row, names)


def approve(session: Session, ctx: RequestContext, version_id: int) -> PolicyVersionPublic:
    """Approve a proposed version (or, for a rollback, a retired one afresh). Never by who
    proposed it (403 self_approval_forbidden)."""
    actor = ctx.require_actor()
    row = _readable(session, ctx, version_id, lock=True)
    if row.status not in ("proposed", "retired"):
        raise Conflict(
            f"version {row.id} is {row.status}: only a proposed or retired one can be approved",
            code="policy_version_not_pending",
        )
    authorize(session, ctx, "policy_version.approve", version_resource(session, ctx, row))

    def approved(row: PolicyVersion) -> None:
        row.status = "approved"
        row.approved_by_id = actor.user_id
        row.approved_at = ctx.now()

    return _decided(session, ctx, row, "approved", approved)


def reject(
    session: Session, ctx: RequestContext, version_id: int, reason: str
) -> PolicyVersionPublic:
    """Reject a proposed or approved version, with a reason; never by who proposed it."""
    actor = ctx.require_actor()
    row = _readable(session, ctx, version_id, lock=True)
    if row.status not in ("proposed", "approved"):
        raise Conflict(
            f"version {row.id} is {row.status}: only a proposed or approved one can be rejected",
            code="policy_version_not_pending",
        )
    authorize(session, ctx, "policy_version.reject", version_resource(session, ctx, row))
    if repo.in_use(session, version_id):
        raise Conflict(
            f"version {row.id} is in force for some tenants: move them first",
            code="policy_version_in_use",
        )

    def rejected(row: PolicyVersion) -> None:
        row.status = "rejected"
        row.rejected_by_id = actor.user_id
        row.rejected_at = ctx.now()
        row.rejection_reason = reason

    return _decided(session, ctx, row, "rejected", rejected)


def _decided(
    session: Session,
    ctx: RequestContext,
    row: PolicyVersion,
    change: str,
    decide: Callable[[PolicyVersion], None],
) -> PolicyVersionPublic:
    """Apply a decision on a version (approve, reject) and log it with before and after."""
    before = summary_of(row, names_of(session, [row]))
    decide(row)
    session.flush()
    names = names_of(session, [row])
    _log(ctx, row, change, before=before, after=summary_of(row, names))
    return public_of(row, names)


def activate(session: Session, ctx: RequestContext, version_id: int) -> PolicyVersionPublic:
    """Put an approved version in force: the one in force retires, the pointer's serial moves
    on, and every process rebuilds its engine (PostgreSQL NOTIFY on commit; polling too). Never
    by who proposed the version; a rollback never by who approved it afresh."""
    actor = ctx.require_actor()
    # Two activations at once take turns; the pointer is read after the turn comes.
    repo.serialize_activations(session)
    pointer = repo.active_pointer(session, lock=True)
    row = _readable(session, ctx, version_id, lock=True)
    assert row.tenant_id is None, "a company's extension: core.policy_versions.rollout"
    if row.status != "approved":
        raise Conflict(
            f"version {row.id} is {row.status}: only an approved version can be activated"
            + (" (a retired one needs a fresh approval first)" if row.status == "retired" else ""),
            code="policy_version_not_approved",
        )
    authorize(session, ctx, "policy_version.activate", version_resource(session, ctx, row))
    now = ctx.now()
    previous = _retire(session, pointer, now)
    rollback = row.activated_at is not None
    row.status = "active"
    row.activated_by_id = actor.user_id
    row.activated_at = now
    row.retired_at = None
    assert row.id is not None
    serial = repo.point_to(session, pointer, row.id, now)
    repo.notify(session, serial)
    session.flush()
    before = ActivationChange(
        version_id=previous.id if previous else None,
        hash=previous.hash if previous else None,
        status="active" if previous else None,
    )
    after = ActivationChange(version_id=row.id, hash=row.hash, status="active")
    record_change(
        ctx, ENTITY, row.id, "rolled back to" if rollback else "activated", None, before, after
    )
    return public_of(row, names_of(session, [row]))


def impact(
    session: Session, ctx: RequestContext, version_id: int, request: ImpactRequest
) -> Impact:
    """Replay the decisions the caller's bank logged in the window under this version
    (core.policy.replay): how many would flip allow -> deny and deny -> allow, per action and
    reason, with samples. Reads only."""
    row = _readable(session, ctx, version_id)
    # The window is half-open, [since, until): by default it ends just after this moment, so
    # that a decision logged now is in it.
    until = request.until or ctx.now() + dt.timedelta(seconds=1)
    since = request.since or until - DEFAULT_WINDOW
    if since >= until:
        raise InvalidRequest("since must be before until")
    engine = PolicyEngine(
        [PolicyFile(name, text) for name, text in row.files.items()],
        source=f"policy version {row.id}",
    )
    # The asking staff's own bank's decisions only: never another bank's log.
    return replay_impact(
        session,
        engine,
        since=since,
        until=until,
        limit=request.limit,
        samples=request.samples,
        bank_id=ctx.require_actor().bank_id,
    )


# -- helpers -------------------------------------------------------------------------------


def _hash(files: list[PolicyFile]) -> str:
    return PolicyEngine.version_of_files(files)


def _readable(
    session: Session, ctx: RequestContext, version_id: int, *, lock: bool = False
) -> PolicyVersion:
    row = repo.version(session, version_id, lock=lock)
    missing = f"policy version {version_id} not found"
    if row is None:
        # Ask anyway: who may not read versions learns nothing from the answer.
        require_readable(
            session, ctx, "policy_version.read", version_resource(session, ctx), not_found=missing
        )
        raise NotFound(missing)
    require_readable(
        session, ctx, "policy_version.read", version_resource(session, ctx, row), not_found=missing
    )
    if row.tenant_id is not None:
        # A company's extension is its bank's: another bank's staff do not see it.
        tenant = session.get(Tenant, row.tenant_id)
        if tenant is None or tenant.bank_id != ctx.require_actor().bank_id:
            raise NotFound(missing)
    return row


def readable_version(
    session: Session, ctx: RequestContext, version_id: int, *, lock: bool = False
) -> PolicyVersion:
    """A stored version the caller may read (another bank's extension, or none: not found)."""
    return _readable(session, ctx, version_id, lock=lock)


def _retire(
    session: Session, pointer: ActivePolicy | None, now: dt.datetime
) -> PolicyVersion | None:
    if pointer is None:
        return None
    previous = repo.version(session, pointer.version_id, lock=True)
    if previous is not None:
        previous.status = "retired"
        previous.retired_at = now
        # A retired version comes back only with a fresh approval.
        previous.approved_by_id = None
        previous.approved_at = None
    return previous


def _log(
    ctx: RequestContext,
    row: PolicyVersion,
    change: str,
    *,
    before: BaseModel | None = None,
    after: BaseModel | None = None,
) -> None:
    assert row.id is not None
    record_change(ctx, ENTITY, row.id, change, None, before, after)
