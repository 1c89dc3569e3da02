"""The deploy's rule for the files it ships (policies/): what `mandate db upgrade`,
`mandate seed-demo` and `mandate serve` do with them at start.

* No version in force yet (the first deploy): the files become version 1, of origin "deploy",
  in force. There is nothing to protect, and every process decides under them anyway.
* Files already stored: nothing changes, whatever their status. In force: said so. Proposed or
  approved: they wait for their approval or activation. Rejected: they are not proposed again
  (a reviewer said no to exactly these files) and the start goes on. Retired (rolled back
  from): they stay retired; approving and activating them again is a rollback.
* Other files while a version is in force: they are stored as a version of origin "deploy",
  *proposed*, and the version in force stays in force until they are approved and activated
  like any proposal (a deploy's version has no author: the release's own pipeline proposed
  it, so any bank's staff who hold the permissions may approve and activate it). A deploy
  never replaces the version in force by itself.

Each start says which of these happened (the command's output, and the log: a warning when
the files the release ships are not the ones in force, since the process then decides under
the version in force, not under the code's own files)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from core.models.policy_versions import PolicyVersion
from core.policy.engine import PolicyEngine, PolicyFile
from core.policy_versions import repository as repo

log = logging.getLogger("mandate.policy.bootstrap")

Outcome = Literal["first", "in_force", "proposed", "awaiting", "rejected", "retired"]


@dataclass(frozen=True)
class Bootstrapped:
    """What a start did with the files the release ships: `outcome`, the version holding
    them, and the version in force."""

    outcome: Outcome
    version_id: int
    hash: str
    active_id: int | None
    rejection_reason: str = ""

    @property
    def in_force(self) -> bool:
        return self.outcome in ("first", "in_force")

    def sentence(self) -> str:
        ours = f"version {self.version_id} ({self.hash})"
        stays = f"version {self.active_id} stays in force"
        if self.outcome == "first":
            return f"policy {ours}, the files this release ships, is in force: the first version"
        if self.outcome == "in_force":
            return f"policy {ours}, the files this release ships, is in force"
        if self.outcome == "proposed":
            return (
                f"the policy files this release ships differ from the version in force: "
                f"recorded as {ours}, proposed; {stays} until it is approved and activated"
            )
        if self.outcome == "rejected":
            why = f" ({self.rejection_reason})" if self.rejection_reason else ""
            return (
                f"the policy files this release ships are {ours}, rejected{why}: not proposed "
                f"again; {stays}"
            )
        if self.outcome == "retired":
            return (
                f"the policy files this release ships are {ours}, retired: {stays} "
                f"(approving and activating {self.version_id} again is a rollback)"
            )
        return (
            f"the policy files this release ships are {ours}, awaiting approval or "
            f"activation; {stays} until then"
        )


def record_bundled(
    session: Session,
    files: list[PolicyFile],
    *,
    now: dt.datetime,
    cases: dict[str, str] | None = None,
) -> Bootstrapped:
    """Apply the deploy's rule (the module's docstring) to the files the release ships, with
    their cases (policies/tests, by file name: what a proposal edits beside the rules), and
    log what it did."""
    hash_ = PolicyEngine.version_of_files(files)
    # Two processes starting at once take turns (the first stores, the second finds it).
    repo.serialize_activations(session)
    pointer = repo.active_pointer(session, lock=True)
    row = repo.version_by_hash(session, hash_)
    if row is None:
        row = PolicyVersion(
            hash=hash_,
            files={f.name: f.text for f in sorted(files, key=lambda f: f.name)},
            note="the files this deploy ships (policies/)",
            origin="deploy",
            created_at=now,
            status="proposed",
            validation={},
            cases=dict(sorted((cases or {}).items())),
        )
        session.add(row)
        session.flush()
        outcome: Outcome = "proposed"
    else:
        outcome = _standing(row.status)
    assert row.id is not None
    if pointer is None:
        # Nothing in force yet: the release's files are what every process decides under.
        row.status, row.activated_at = "active", now
        repo.notify(session, repo.point_to(session, None, row.id, now))
        session.flush()
        outcome = "first"
    done = Bootstrapped(
        outcome=outcome,
        version_id=row.id,
        hash=hash_,
        active_id=row.id if pointer is None else pointer.version_id,
        rejection_reason=row.rejection_reason,
    )
    log.log(logging.INFO if done.in_force else logging.WARNING, done.sentence())
    return done


def _standing(status: str) -> Outcome:
    """What a stored version of the release's files means for this start."""
    standing: dict[str, Outcome] = {
        "active": "in_force",
        "rejected": "rejected",
        "retired": "retired",
    }
    return standing.get(status, "awaiting")
