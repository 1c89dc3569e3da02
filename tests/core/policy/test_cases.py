"""The policy cases in policies/tests/ pass, and the runner can tell when one does not."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core.policy import engine as policy_engine
from core.policy.cases import format_report, load_cases, run_case, run_cases
from core.settings import REPO_ROOT

CASES = load_cases(REPO_ROOT / "policies" / "tests")


@pytest.mark.parametrize("file,data,case", CASES, ids=[f"{f}::{c['name']}" for f, _, c in CASES])
def test_policy_case(file, data, case):
    result = run_case(policy_engine.current(), file, data, case)
    direct = "allow" if result.direct.allowed else f"deny: {result.direct.reason}"
    assert result.passed, f"expected {result.expected}, compiled {result.actual}, direct {direct}"


def test_every_builtin_role_and_reason_is_covered():
    report = run_cases(policy_engine.current(), REPO_ROOT / "policies" / "tests")
    assert report.missing_roles == []
    assert report.missing_reasons == []
    assert report.ok


def test_a_wrong_expectation_fails_and_shows_the_case(tmp_path):
    (tmp_path / "wrong.yaml").write_text(
        """
cases:
  - name: a bookkeeper moving money (wrongly expected to be allowed)
    grants: [{role: bookkeeper}]
    action: transfer.create
    amount: "5.00"
    expect: allow
"""
    )
    report = run_cases(policy_engine.current(), tmp_path)
    assert not report.ok
    text = format_report(report)
    assert "FAIL a bookkeeper moving money" in text
    assert "expected allow, got deny: missing_permission" in text
    assert "case:" in text
    assert "refusal reasons no case expects" in text


def test_the_cli_exits_non_zero_on_failure(tmp_path, monkeypatch):
    from core.cli import app as cli
    from core.settings import get_settings

    (tmp_path / "wrong.yaml").write_text(
        "cases:\n  - {name: nobody reads, grants: [], action: account.read, expect: allow}\n"
    )
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["policy", "test", "--directory", str(tmp_path)])
    assert result.exit_code == 1
    assert "FAIL nobody reads" in result.output
    ok = CliRunner().invoke(cli, ["policy", "test"])
    assert ok.exit_code == 0, ok.output
    assert "cases passed" in ok.output
