"""`mandate policy versions|propose|show|diff|impact|approve|reject|activate`: the governed
policy from a terminal on a host that reaches the database.

Each command that changes something acts as a person, signed in with their password
(`--user`, and MANDATE_PASSWORD or a prompt): the same services, policy and four eyes as the
API, and the same change log."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from sqlalchemy.orm import Session

from core import bundled, migrate
from core.clock import SystemClock, utcnow
from core.context import RequestContext
from core.db import Database
from core.errors import MandateError
from core.iam.credentials import Passwords
from core.iam.second_factor import Proof
from core.iam.sessions import Credentials, check_credentials
from core.iam.totp import second_factor_box
from core.models.iam import actor_of
from core.policy import engine as policy_engine
from core.policy.engine import files_of
from core.policy_versions import service
from core.policy_versions.diff import FileDiff
from core.policy_versions.reload import PolicyWatcher
from core.policy_versions.schemas import ImpactRequest, PolicyProposal
from core.settings import get_settings
from core.uow import UnitOfWork

T = TypeVar("T")

UserOption = typer.Option(
    ..., "--user", "-u", envvar="MANDATE_USER", help="who acts (password: MANDATE_PASSWORD)"
)


def record_bundled(session: Session, policy_dir: Path) -> str | None:
    """The bundled files as the version in force, if no stored version has them (with the
    cases of policy_dir/tests)."""
    cases = {p.name: p.read_text(encoding="utf-8") for p in sorted(policy_dir.glob("tests/*.yaml"))}
    return service.record_bundled(session, files_of(policy_dir), now=utcnow(), cases=cases)


def add_commands(policy_app: typer.Typer) -> None:
    policy_app.command("versions")(versions)
    policy_app.command("propose")(propose)
    policy_app.command("show")(show)
    policy_app.command("diff")(diff)
    policy_app.command("impact")(impact)
    policy_app.command("approve")(approve)
    policy_app.command("reject")(reject)
    policy_app.command("activate")(activate)


def versions(user: str = UserOption) -> None:
    """List every version of the policy, newest first."""
    for row in _as(user, service.list_versions):
        who = row.author or "deploy"
        typer.echo(
            f"{row.id:>4}  {row.hash}  {row.status:<9} by {who:<14} {row.created_at:%Y-%m-%d %H:%M}"
            f"  {row.note}"
        )


def propose(
    directory: Path = typer.Argument(..., help="a folder of .polar files (and tests/*.yaml)"),
    note: str = typer.Option("", help="why: shown to whoever reviews it"),
    user: str = UserOption,
) -> None:
    """Propose the .polar files of DIRECTORY as a new version. Its tests/*.yaml that differ
    from the bundled cases go with it (one of a bundled name replaces that file)."""
    files = {f.name: f.text for f in files_of(directory)}
    bundled_cases = bundled.policy_dir() / "tests"
    cases = {}
    for path in sorted((directory / "tests").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        original = bundled_cases / path.name
        if not original.is_file() or original.read_text(encoding="utf-8") != text:
            cases[path.name] = text
    try:
        proposal = PolicyProposal(files=files, cases=cases, note=note)
    except ValueError as exc:
        _fail(str(exc))
    version = _as(user, service.propose, proposal)
    report = version.validation
    typer.echo(
        f"proposed version {version.id} ({version.hash}): {report.get('cases_passed')}/"
        f"{report.get('cases_run')} cases pass"
        + (
            f"; its cases replace {', '.join(report['replaced_case_files'])}"
            if report.get("replaced_case_files")
            else ""
        )
    )


def show(version_id: int, user: str = UserOption) -> None:
    """A version as JSON (files, cases, validation)."""
    typer.echo(
        json.dumps(_as(user, service.get_version, version_id).model_dump(mode="json"), indent=2)
    )


def diff(
    version_id: int,
    against: int = typer.Option(None, help="default: the version in force"),
    user: str = UserOption,
) -> None:
    """What VERSION_ID changes against another version (the one in force by default)."""
    if against is None:
        active = [v for v in _as(user, service.list_versions) if v.status == "active"]
        if not active:
            _fail("no version is in force: give --against")
        against = active[0].id
    result = _as(user, service.diff_versions, version_id, against)
    typer.echo(
        f"version {result.id} ({result.hash}) against {result.against} ({result.against_hash})"
    )
    for file in result.files:
        if file.status != "unchanged":
            typer.echo(_render(file))


def impact(
    version_id: int,
    days: int = typer.Option(7, min=1, max=366, help="the window: this many days back"),
    limit: int = typer.Option(10_000, min=1, max=100_000),
    user: str = UserOption,
) -> None:
    """Replay the last DAYS of logged decisions under VERSION_ID: what would flip."""
    until = utcnow()
    request = ImpactRequest(since=until - dt.timedelta(days=days), until=until, limit=limit)
    result = _as(user, service.impact, version_id, request)
    typer.echo(
        f"{result.replayed} decisions replayed ({result.not_replayable} without facts): "
        f"{result.allow_to_deny} allow -> deny, {result.deny_to_allow} deny -> allow, "
        f"{result.reason_changed} another reason"
    )
    for change in result.changes:
        typer.echo(
            f"  {change.count:>6}  {change.action}: {change.from_decision} {change.from_reason}"
            f" -> {change.to_decision} {change.to_reason}  (e.g. decisions "
            f"{', '.join(map(str, change.sample_decision_ids))})"
        )


def approve(version_id: int, user: str = UserOption) -> None:
    """Approve VERSION_ID (someone other than who proposed it)."""
    version = _as(user, service.approve, version_id)
    typer.echo(f"version {version.id} approved by {version.approved_by}")


def reject(
    version_id: int,
    reason: str = typer.Option(..., help="why, for the record"),
    user: str = UserOption,
) -> None:
    """Reject VERSION_ID, with a reason."""
    version = _as(user, service.reject, version_id, reason)
    typer.echo(f"version {version.id} rejected by {user}")


def activate(version_id: int, user: str = UserOption) -> None:
    """Put the approved VERSION_ID in force: every API process switches within seconds."""
    version = _as(user, service.activate, version_id)
    typer.echo(f"version {version.id} ({version.hash}) is in force, activated by {user}")


def _render(file: FileDiff) -> str:
    lines = [f"--- {file.name} ({file.status}: +{file.added} -{file.removed})"]
    for hunk in file.hunks:
        first = hunk.rows[0]
        lines.append(f"@@ line {first.left_number or first.right_number} @@")
        for row in hunk.rows:
            if row.kind == "equal":
                lines.append(f"  {row.right}")
                continue
            if row.left is not None:
                lines.append(f"- {row.left}")
            if row.right is not None:
                lines.append(f"+ {row.right}")
    return "\n".join(lines)


def _as(username: str, work: Callable[..., T], *args: Any) -> T:
    """Sign `username` in (password from MANDATE_PASSWORD, or asked; with an authenticator set
    up, its code from MANDATE_OTP) and run `work` as them in a unit of work of its own."""
    settings = get_settings()
    if not migrate.is_up_to_date(settings.database_url):
        _fail("the database is not migrated; run: mandate db upgrade")
    password = os.environ.get("MANDATE_PASSWORD") or typer.prompt(
        f"password for {username}", hide_input=True
    )
    db = Database(settings.database_url)
    clock = SystemClock()
    try:
        # Decide under the version in force, as a server process would.
        policy_engine.load(settings.policy_dir, compile=settings.policy_compile)
        PolicyWatcher(db, listen=False, compile=settings.policy_compile).sync()
        try:
            proof = Proof(code=os.environ.get("MANDATE_OTP", ""))
            signed_in = check_credentials(
                db,
                Passwords(settings),
                second_factor_box(settings),
                Credentials(username, password, "cli", proof),
                clock.now(),
            )
            if signed_in.authentication.enrolment_only:
                _fail("the bank requires two-factor sign-in: set up an authenticator first")
            ctx = RequestContext(
                actor=actor_of(signed_in.user, signed_in.authentication), clock=clock
            )
            return UnitOfWork(db, ctx, action="policy_version").run(work, *args)
        except MandateError as exc:
            body = exc.context.get("body")
            for failure in (body or {}).get("failures", []):
                typer.echo(
                    f"  FAIL {failure['file']}: {failure['name']}: expected {failure['expected']}"
                    f", got {failure['got']}",
                    err=True,
                )
            _fail(f"{exc.code}: {exc.detail}")
            raise
    finally:
        db.dispose()


def _fail(message: str) -> Any:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
