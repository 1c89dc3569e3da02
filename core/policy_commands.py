"""`mandate policy versions|propose|show|diff|impact|approve|reject|activate|rollout|
assignments|pin`: the governed policy from a terminal on a host that reaches the database
(per tenant too: a company's extension, a version rolled out to chosen tenants first).

Each command acts as a person, signed in once for the whole command with their password
(`--user`, and MANDATE_PASSWORD or a prompt; with an authenticator, its code from MANDATE_OTP):
the same services, policy and four eyes as the API, and the same change log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from core import bundled
from core.clock import utcnow
from core.policy.engine import files_of
from core.policy.replay import Impact
from core.policy_versions import assignments, bootstrap, rollout, service
from core.policy_versions.bootstrap import Bootstrapped
from core.policy_versions.diff import FileDiff
from core.policy_versions.schemas import ImpactRequest, PolicyProposal
from core.policy_versions.tenant_schemas import (
    ActivationTarget,
    TenantPolicyPublic,
    TenantPolicyPut,
)
from core.signed_in import UserOption, fail, signed_in
from core.uow import UnitOfWork


def record_bundled(session: Session, policy_dir: Path) -> Bootstrapped:
    """The deploy's rule for the files of policy_dir, with the cases of policy_dir/tests
    (core.policy_versions.bootstrap): in force the first time, proposed when they differ
    from the version in force, never put in force over it."""
    cases = {p.name: p.read_text(encoding="utf-8") for p in sorted(policy_dir.glob("tests/*.yaml"))}
    return bootstrap.record_bundled(session, files_of(policy_dir), now=utcnow(), cases=cases)


def add_commands(policy_app: typer.Typer) -> None:
    policy_app.command("versions")(versions)
    policy_app.command("propose")(propose)
    policy_app.command("show")(show)
    policy_app.command("diff")(diff)
    policy_app.command("impact")(impact)
    policy_app.command("approve")(approve)
    policy_app.command("reject")(reject)
    policy_app.command("activate")(activate)
    policy_app.command("rollout")(rollout_step)
    policy_app.command("assignments")(list_assignments)
    policy_app.command("pin")(pin)


def versions(user: str = UserOption) -> None:
    """List every version of the policy, newest first."""
    with _signed_in(user) as uow:
        rows = uow.run(service.list_versions)
    for row in rows:
        who = row.author or "deploy"
        scope = f"  (tenant {row.tenant_id}'s extension)" if row.tenant_id else ""
        typer.echo(
            f"{row.id:>4}  {row.hash}  {row.status:<9} by {who:<14} {row.created_at:%Y-%m-%d %H:%M}"
            f"  {row.note}{scope}"
        )


def propose(
    directory: Path = typer.Argument(..., help="a folder of .polar files (and tests/*.yaml)"),
    note: str = typer.Option("", help="why: shown to whoever reviews it"),
    tenant: str = typer.Option(
        None, help="a company (id or name): DIRECTORY is its extension, tests/*.yaml its cases"
    ),
    user: str = UserOption,
) -> None:
    """Propose the .polar files of DIRECTORY as a new version. Its tests/*.yaml that differ
    from the bundled cases go with it (one of a bundled name replaces that file). With
    --tenant: that company's extension (tenant_refuses rules only), with all its cases."""
    files = {f.name: f.text for f in files_of(directory)}
    bundled_cases = bundled.policy_dir() / "tests"
    cases = {}
    for path in sorted((directory / "tests").glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        original = bundled_cases / path.name
        if tenant or not original.is_file() or original.read_text(encoding="utf-8") != text:
            cases[path.name] = text
    with _signed_in(user) as uow:
        tenant_id = _tenant_ids(uow, [tenant])[0] if tenant else None
        try:
            proposal = PolicyProposal(files=files, cases=cases, note=note, tenant_id=tenant_id)
        except ValueError as exc:
            fail(str(exc))
        version = uow.run(rollout.propose, proposal)
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
    with _signed_in(user) as uow:
        version = uow.run(service.get_version, version_id)
    typer.echo(json.dumps(version.model_dump(mode="json"), indent=2))


def diff(
    version_id: int,
    against: int = typer.Option(None, help="default: the version in force"),
    user: str = UserOption,
) -> None:
    """What VERSION_ID changes against another version (the one in force by default)."""
    with _signed_in(user) as uow:
        if against is None:
            active = [v for v in uow.run(service.list_versions) if v.status == "active"]
            if not active:
                fail("no version is in force: give --against")
            against = active[0].id
        result = uow.run(service.diff_versions, version_id, against)
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
    tenants: str = typer.Option(None, help="only these companies (ids or names, comma-separated)"),
    user: str = UserOption,
) -> None:
    """Replay the last DAYS of logged decisions under VERSION_ID: what would flip (with
    --tenants, only theirs, each under the version with its own extension)."""
    until = utcnow()
    with _signed_in(user) as uow:
        chosen = _tenant_ids(uow, tenants.split(",")) if tenants else None
        request = ImpactRequest(
            since=until - dt.timedelta(days=days), until=until, limit=limit, tenants=chosen
        )
        result = uow.run(rollout.impact, version_id, request)
    _echo_impact(result)


def _echo_impact(result: Impact) -> None:
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
    for tenant in result.tenants:
        typer.echo(
            f"  tenant {tenant.tenant_id}: {tenant.replayed} replayed, {tenant.allow_to_deny} "
            f"allow -> deny, {tenant.deny_to_allow} deny -> allow"
            + (f" (with extension {tenant.extension_version})" if tenant.extension_version else "")
        )


def approve(version_id: int, user: str = UserOption) -> None:
    """Approve VERSION_ID (someone other than who proposed it)."""
    with _signed_in(user) as uow:
        version = uow.run(service.approve, version_id)
    typer.echo(f"version {version.id} approved by {version.approved_by}")


def reject(
    version_id: int,
    reason: str = typer.Option(..., help="why, for the record"),
    user: str = UserOption,
) -> None:
    """Reject VERSION_ID, with a reason."""
    with _signed_in(user) as uow:
        version = uow.run(service.reject, version_id, reason)
    typer.echo(f"version {version.id} rejected by {user}")


def activate(version_id: int, user: str = UserOption) -> None:
    """Put the approved VERSION_ID in force (a company's extension: for its company): every
    API process switches within seconds."""
    with _signed_in(user) as uow:
        version = uow.run(rollout.activate, version_id, None)
    typer.echo(f"version {version.id} ({version.hash}) is in force, activated by {user}")


def rollout_step(
    version_id: int,
    tenants: str = typer.Option(None, help="these companies first (ids or names, comma-separated)"),
    every: bool = typer.Option(False, "--all", help="every company: the bank's default"),
    days: int = typer.Option(7, min=1, max=366, help="the impact's window: this many days back"),
    user: str = UserOption,
) -> None:
    """One step of a rollout of VERSION_ID: its impact on the companies it reaches, then the
    step (--tenants: they are pinned to it; --all: it becomes the bank's default)."""
    if bool(tenants) == every:
        fail("give --tenants or --all")
    until = utcnow()
    with _signed_in(user) as uow:
        chosen = _tenant_ids(uow, tenants.split(",")) if tenants else None
        request = ImpactRequest(since=until - dt.timedelta(days=days), until=until, tenants=chosen)
        _echo_impact(uow.run(rollout.impact, version_id, request))
        target = ActivationTarget(tenants=chosen) if chosen else None
        version = uow.run(rollout.activate, version_id, target)
    reach = f"for tenants {', '.join(map(str, chosen))}" if chosen else "for every tenant"
    typer.echo(f"version {version.id} ({version.hash}) is in force {reach}, by {user}")


def list_assignments(user: str = UserOption) -> None:
    """Which company runs which version and which extension."""
    with _signed_in(user) as uow:
        result = uow.run(assignments.list_assignments)
    typer.echo(f"default: version {result.default_version_id} ({result.default_hash})")
    for row in result.tenants:
        pinned = "pinned to" if row.pinned else "follows  "
        extension = f", extension {row.extension_id}" if row.extension_id else ""
        typer.echo(f"{row.tenant_id:>4}  {row.tenant:<24} {pinned} {row.version_id}{extension}")
        for rule in row.rules:
            typer.echo(f"        {rule.reason}: {rule.text}")


def pin(
    tenant: str = typer.Argument(..., help="the company (id or name)"),
    version: str = typer.Argument(..., help="a version id, or default (follow the bank's)"),
    extension: str = typer.Option("keep", help="an extension id, none, or keep"),
    user: str = UserOption,
) -> None:
    """Pin TENANT to VERSION or move it back to the default, and set its extension."""
    with _signed_in(user) as uow:
        known = uow.run(assignments.list_assignments).tenants
        tenant_id = _tenant_ids_in(known, [tenant])[0]
        current = next(t for t in known if t.tenant_id == tenant_id)
        body = TenantPolicyPut(
            version_id=None if version == "default" else int(version),
            extension_id=(
                current.extension_id
                if extension == "keep"
                else None
                if extension == "none"
                else int(extension)
            ),
        )
        row = uow.run(assignments.set_tenant_policy, tenant_id, body)
    extra = f", extension {row.extension_id}" if row.extension_id else ", no extension"
    typer.echo(f"{row.tenant} runs version {row.version_id}{extra}")


def _tenant_ids(uow: UnitOfWork, names: list[str]) -> list[int]:
    """Companies by id, or by name (whole, or its first word), any case."""
    return _tenant_ids_in(uow.run(assignments.list_assignments).tenants, names)


def _tenant_ids_in(known: Sequence[TenantPolicyPublic], names: list[str]) -> list[int]:
    """`names` as ids of the companies `known`."""
    found = []
    for name in (n.strip() for n in names):
        if name.isdigit():
            found.append(int(name))
            continue
        matches = [
            t.tenant_id
            for t in known
            if name.lower() in (t.tenant.lower(), t.tenant.split()[0].lower())
        ]
        if len(matches) != 1:
            fail(f"no single company named {name!r}")
        found.append(matches[0])
    return found


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


def _signed_in(username: str) -> AbstractContextManager[UnitOfWork]:
    """`username` signed in once for the whole command (password from MANDATE_PASSWORD, or
    asked; an authenticator's code, which serves one sign-in, from MANDATE_OTP): each step
    of it runs in a transaction of its own."""
    return signed_in(username, action="policy_version")
