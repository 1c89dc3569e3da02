"""Policy versions for tests: proposals made from the bundled files, and a second compliance
officer, so that one proposes and the other approves."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.clock import Clock
from core.context import RequestContext
from core.db import Database
from core.iam import service as iam
from core.iam.credentials import Passwords
from core.models.iam import User
from core.models.policy_versions import PolicyVersion
from core.policy.engine import PolicyEngine, PolicyFile
from core.policy_versions import bootstrap
from core.policy_versions import repository as repo
from core.settings import REPO_ROOT
from tests.factories import PASSWORD, World, unit_of_work

POLICIES = REPO_ROOT / "policies"
BOOKKEEPER_LINE = '    "account.read", "statement.read", "beneficiary.read"];'
BOOKKEEPER_TIGHTER = '    "account.read", "beneficiary.read"];'
STATEMENT_CASE = (
    "  - {name: a bookkeeper reads statements, grants: [bookkeeper], action: statement.read, "
    "expect: allow}"
)
STATEMENT_CASE_TIGHTER = (
    "  - {name: a bookkeeper reads statements, grants: [bookkeeper], action: statement.read, "
    'expect: "deny: missing_permission"}'
)


def bundled_files() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(POLICIES.glob("*.polar"))}


def tighter_bookkeeper() -> dict[str, Any]:
    """A proposal: bookkeepers no longer read statements; its own roles.yaml says so."""
    files = bundled_files()
    assert BOOKKEEPER_LINE in files["vocabulary.polar"]
    files["vocabulary.polar"] = files["vocabulary.polar"].replace(
        BOOKKEEPER_LINE, BOOKKEEPER_TIGHTER
    )
    roles = (POLICIES / "tests" / "roles.yaml").read_text(encoding="utf-8")
    assert STATEMENT_CASE in roles
    return {
        "files": files,
        "cases": {"roles.yaml": roles.replace(STATEMENT_CASE, STATEMENT_CASE_TIGHTER)},
        "note": "bookkeepers read no statements",
    }


def broken_bookkeeper() -> dict[str, Any]:
    """The same change without its case: roles.yaml's bookkeeper case fails."""
    proposal = tighter_bookkeeper()
    del proposal["cases"]
    return proposal


def second_officer(world: World, db: Database, passwords: Passwords, clock: Clock) -> User:
    """compliance-b: a second compliance officer of the world's bank."""

    def build(session: Session, _ctx: RequestContext) -> User:
        user = iam.create_user(
            session,
            passwords,
            bank_id=world.bank.id,  # type: ignore[arg-type]
            tenant_id=None,
            username="compliance-b",
            display_name="Compliance B",
            password=PASSWORD,
            now=clock.now(),
        )
        role = iam.builtin_role(
            session,
            "compliance_officer",
            bank_id=world.bank.id,
            tenant_id=None,  # type: ignore[arg-type]
        )
        iam.grant_role(session, user, role, now=clock.now())
        return user

    user = unit_of_work(db, clock).run(build)
    world.users["compliance-b"] = user
    return user


def with_policy_versions(db: Database, world: World, clock: Clock) -> dict[str, int]:
    """Two stored versions of the bundled files (each with a comment of its own), both
    proposed by the bank manager: "proposed" awaits approval, "approved" was approved by the
    compliance officer. Rows written directly: validating them would cost seconds per world."""

    def build(session: Session, _ctx: RequestContext) -> dict[str, int]:
        ids = {}
        for status in ("proposed", "approved"):
            files = bundled_files()
            files["machinery.polar"] += f"\n# {status} in a test world\n"
            row = PolicyVersion(
                hash=PolicyEngine.version_of_files([PolicyFile(n, t) for n, t in files.items()]),
                files=files,
                note=f"a {status} version",
                author_id=world.user_id("manager"),
                created_at=clock.now(),
                status=status,
                approved_by_id=world.user_id("compliance") if status == "approved" else None,
                approved_at=clock.now() if status == "approved" else None,
            )
            session.add(row)
            session.flush()
            assert row.id is not None
            ids[status] = row.id
        return ids

    return unit_of_work(db, clock).run(build)


def other_bank_officer(db: Database, passwords: Passwords, clock: Clock) -> User:
    """other-officer: the compliance officer of a second bank the deployment serves."""

    def build(session: Session, _ctx: RequestContext) -> User:
        bank = iam.create_bank(session, "Other Bank")
        assert bank.id is not None
        user = iam.create_user(
            session,
            passwords,
            bank_id=bank.id,
            tenant_id=None,
            username="other-officer",
            display_name="Other Officer",
            password=PASSWORD,
            now=clock.now(),
        )
        role = iam.builtin_role(session, "compliance_officer", bank_id=bank.id, tenant_id=None)
        iam.grant_role(session, user, role, now=clock.now())
        session.expunge(user)
        return user

    return unit_of_work(db, clock).run(build)


def stored_version(db: Database, clock: Clock, author_id: int | None, note: str) -> int:
    """A proposed version of the bundled files (a comment of its own), by `author_id`
    (None: the deploy's). Written directly, as with_policy_versions does."""

    def build(session: Session, _ctx: RequestContext) -> int:
        files = bundled_files()
        files["machinery.polar"] += f"\n# {note}\n"
        row = PolicyVersion(
            hash=PolicyEngine.version_of_files([PolicyFile(n, t) for n, t in files.items()]),
            files=files,
            note=note,
            origin="proposal" if author_id else "deploy",
            author_id=author_id,
            created_at=clock.now(),
            status="proposed",
        )
        session.add(row)
        session.flush()
        assert row.id is not None
        return row.id

    return unit_of_work(db, clock).run(build)


def with_policy_in_force(db: Database, clock: Clock) -> int:
    """The bundled files stored as the version in force (as `mandate db upgrade` leaves a
    deployment): the bank's default, which every tenant not pinned runs. Answers its id."""

    def build(session: Session, _ctx: RequestContext) -> int:
        files = [PolicyFile(name, text) for name, text in bundled_files().items()]
        bootstrap.record_bundled(session, files, now=clock.now())
        pointer = repo.active_pointer(session)
        assert pointer is not None
        return pointer.version_id

    return unit_of_work(db, clock).run(build)
