"""`mandate policy propose|diff|impact|approve|activate` as a compliance officer would run
them: a broken proposal is refused with its failing case; a valid one goes through four eyes."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from typer.testing import CliRunner

from core.cli import app as cli
from core.iam import totp
from core.policy import engine as policy_engine
from core.settings import REPO_ROOT, get_settings
from tests.factories import PASSWORD
from tests.policy_versions_world import (
    BOOKKEEPER_LINE,
    BOOKKEEPER_TIGHTER,
    STATEMENT_CASE,
    STATEMENT_CASE_TIGHTER,
    second_officer,
    with_policy_in_force,
)
from tests.second_factor_world import SECRET, with_authenticator
from tests.tenant_policy_world import FRIDAY_CASES, FRIDAY_RULE


@pytest.fixture
def mandate(settings, world, db, app, clock, monkeypatch):  # type: ignore[no-untyped-def]
    second_officer(world, db, app.state.services.passwords, clock)
    monkeypatch.setenv("MANDATE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MANDATE_TOKEN_KEY_PATH", str(settings.token_key_path))
    monkeypatch.setenv("MANDATE_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli, ["policy", *args])
    get_settings.cache_clear()
    policy_engine.ensure_loaded(REPO_ROOT / "policies")


def test_propose_diff_impact_approve_activate_from_a_folder(mandate, tmp_path):
    folder = tmp_path / "proposal"
    shutil.copytree(REPO_ROOT / "policies", folder)
    vocabulary = folder / "vocabulary.polar"
    vocabulary.write_text(vocabulary.read_text().replace(BOOKKEEPER_LINE, BOOKKEEPER_TIGHTER))

    refused = mandate("propose", str(folder), "-u", "compliance")
    assert refused.exit_code == 1
    assert "FAIL roles.yaml: a bookkeeper reads statements: expected allow" in refused.output

    roles = folder / "tests" / "roles.yaml"
    roles.write_text(roles.read_text().replace(STATEMENT_CASE, STATEMENT_CASE_TIGHTER))
    proposed = mandate("propose", str(folder), "-u", "compliance", "--note", "tighter")
    assert proposed.exit_code == 0, proposed.output
    assert "proposed version 1" in proposed.output and "replace roles.yaml" in proposed.output

    # Nothing was stored before (the test database has no deploy version): diff against
    # itself says nothing changed; the impact replays the (empty) log.
    assert mandate("diff", "1", "--against", "1", "-u", "compliance").exit_code == 0
    impact = mandate("impact", "1", "-u", "compliance-b")
    assert impact.exit_code == 0 and "allow -> deny" in impact.output

    own = mandate("approve", "1", "-u", "compliance")
    assert own.exit_code == 1 and "self_approval_forbidden" in own.output
    assert mandate("approve", "1", "-u", "compliance-b").exit_code == 0
    activated = mandate("activate", "1", "-u", "compliance-b")
    assert activated.exit_code == 0 and "is in force" in activated.output
    listed = mandate("versions", "-u", "manager")
    assert "active" in listed.output and "tighter" in listed.output


def test_a_wrong_password_signs_nobody_in(mandate, monkeypatch):
    monkeypatch.setenv("MANDATE_PASSWORD", "not the password")
    result = mandate("versions", "-u", "compliance")
    assert result.exit_code == 1 and "invalid_credentials" in result.output


def test_an_extension_and_a_rollout_from_a_terminal(mandate, tmp_path, world, db, clock):
    """`mandate policy propose --tenant`, `rollout --tenants` then `--all`, `assignments`,
    `pin ... default`: the same services and four eyes as the API."""
    with_policy_in_force(db, clock)  # the bundled files: version 1, the default
    extension = tmp_path / "acme"
    (extension / "tests").mkdir(parents=True)
    (extension / "acme.polar").write_text(FRIDAY_RULE)
    (extension / "tests" / "acme.yaml").write_text(FRIDAY_CASES)
    proposed = mandate("propose", str(extension), "--tenant", "acme", "-u", "manager")
    assert proposed.exit_code == 0, proposed.output
    assert "proposed version 2" in proposed.output and "3/3 cases pass" in proposed.output
    assert mandate("approve", "2", "-u", "compliance").exit_code == 0
    assert mandate("activate", "2", "-u", "compliance").exit_code == 0

    folder = tmp_path / "proposal"
    shutil.copytree(REPO_ROOT / "policies", folder)
    vocabulary = folder / "vocabulary.polar"
    vocabulary.write_text(vocabulary.read_text().replace(BOOKKEEPER_LINE, BOOKKEEPER_TIGHTER))
    roles = folder / "tests" / "roles.yaml"
    roles.write_text(roles.read_text().replace(STATEMENT_CASE, STATEMENT_CASE_TIGHTER))
    assert mandate("propose", str(folder), "-u", "compliance").exit_code == 0
    assert mandate("approve", "3", "-u", "compliance-b").exit_code == 0

    own = mandate("rollout", "3", "--tenants", "globex", "-u", "compliance")
    assert own.exit_code == 1 and "self_approval_forbidden" in own.output
    canary = mandate("rollout", "3", "--tenants", "globex", "-u", "compliance-b")
    assert canary.exit_code == 0, canary.output
    globex = world.tenants["globex"].id
    assert f"tenant {globex}: " in canary.output and f"for tenants {globex}" in canary.output
    listed = mandate("assignments", "-u", "manager")
    assert "Globex GmbH" in listed.output and "pinned to 3" in listed.output
    assert "tenant_rule:new_beneficiary_friday" in listed.output  # Acme's, in words
    everyone = mandate("rollout", "3", "--all", "-u", "compliance-b")
    assert everyone.exit_code == 0 and "for every tenant" in everyone.output
    listed = mandate("assignments", "-u", "manager")
    assert "default: version 3" in listed.output and "pinned to" not in listed.output
    assert mandate("rollout", "3", "-u", "compliance-b").exit_code == 1  # --tenants or --all

    # Acme drops its extension: the default alone is put in force for it, by someone else.
    dropped = mandate("pin", "acme", "default", "--extension", "none", "-u", "compliance")
    assert dropped.exit_code == 1 and "self_approval_forbidden" in dropped.output
    dropped = mandate("pin", "acme", "default", "--extension", "none", "-u", "manager")
    assert dropped.exit_code == 0, dropped.output
    assert "Acme Ltd runs version 3, no extension" in dropped.output


def test_a_command_signs_in_once_so_an_authenticators_code_serves_it_whole(
    mandate, app, db, world, clock, settings, monkeypatch
):
    """A regression: `impact --tenants`, `pin` and others signed in once per step, and the
    second sign-in reused the authenticator's code (refused: a code serves once)."""
    version_id = with_policy_in_force(db, clock)
    with_authenticator(db, app.state.services.box, world, "compliance", clock)
    monkeypatch.setenv("MANDATE_OTP", totp.code_at(SECRET, dt.datetime.now(dt.UTC)))
    impact = mandate("impact", str(version_id), "--tenants", "acme", "-u", "compliance")
    assert impact.exit_code == 0, impact.output
    assert f"tenant {world.tenants['acme'].id}: " in impact.output
    # The code served that command; the next one needs the next code.
    again = mandate("assignments", "-u", "compliance")
    assert again.exit_code == 1 and "invalid_credentials" in again.output, again.output
