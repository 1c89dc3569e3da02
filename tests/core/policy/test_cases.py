"""The policy cases in policies/tests/ pass, and the runner can tell when one does not."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from core.policy import engine as policy_engine
from core.policy.cases import (
    CaseError,
    engine_for,
    format_report,
    load_cases,
    run_case,
    run_cases,
    run_panel_case,
)
from core.settings import REPO_ROOT

CASES = load_cases(REPO_ROOT / "policies" / "tests")
PANELS = load_cases(REPO_ROOT / "policies" / "tests", "panels")
EXTENDED: dict[str, policy_engine.PolicyEngine] = {}


@pytest.mark.parametrize("file,data,case", CASES, ids=[f"{f}::{c['name']}" for f, _, c in CASES])
def test_policy_case(file, data, case):
    # A file with a company's extension is decided with it (tenant_rules.yaml).
    result = run_case(engine_for(policy_engine.current(), file, data, EXTENDED), file, data, case)
    direct = "allow" if result.direct.allowed else f"deny: {result.direct.reason}"
    assert result.passed, f"expected {result.expected}, compiled {result.actual}, direct {direct}"
    # Every case is decided by the compiled program, not by the fallback to direct
    # evaluation: the two are compared, not one with itself.
    assert result.compiled.compiled


@pytest.mark.parametrize("file,data,case", PANELS, ids=[f"{f}::{c['name']}" for f, _, c in PANELS])
def test_panel_case(file, data, case):
    result = run_panel_case(policy_engine.current(), file, data, case)
    assert result.passed, result.summary()


def test_every_action_about_a_payment_and_every_tier_kind_has_cases():
    """The payment actions each have an allowing and a refusing case; the panels cover every
    kind of tier, a tier of one account, the bank's minimums and a new beneficiary."""
    actions = {
        (merged["action"], _expected_outcome(merged["expect"]))
        for _f, data, case in CASES
        for merged in [{**(data.get("defaults") or {}), **case}]
        if str(merged["action"]).startswith("payment.")
    }
    for action in ("payment.create", "payment.approve", "payment.reject", "payment.cancel"):
        assert {(action, "allow"), (action, "deny")} <= actions, action
    tiers = [
        (data.get("tiers") or {})[item] if isinstance(item, str) else item
        for _f, data, case in PANELS
        for item in case.get("tiers", [])
    ]
    assert {t.get("kind", "any") for t in tiers} == {"any", "own", "internal", "external"}
    assert any("account" in t for t in tiers) and any(t.get("bank") for t in tiers)
    assert any((c.get("payment") or {}).get("new_beneficiary") for _f, _d, c in PANELS)


def _expected_outcome(expect) -> str:  # type: ignore[no-untyped-def]
    return "allow" if expect == "allow" else "deny"


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


def test_a_payment_case_reads_its_payment(tmp_path):
    """A case about a waiting payment describes it (who prepared it, its status, approvals,
    what the panel still needs, its expiry); a wrong word in it is an error of the file."""
    (tmp_path / "payments.yaml").write_text(
        """
grants:
  approver: {role: approver, approval: {group: B, limit: "100.00"}}
cases:
  - name: a B approval where only A may still approve (wrongly expected to be allowed)
    grants: [approver]
    action: payment.approve
    amount: "50.00"
    payment: {still_needed: 1, still_needed_a: 1}
    expect: allow
"""
    )
    report = run_cases(policy_engine.current(), tmp_path)
    assert "got deny: approval_group_not_needed" in format_report(report)
    (tmp_path / "payments.yaml").write_text(
        "cases:\n  - {name: typo, grants: [], action: payment.approve,"
        " payment: {initator: self}, expect: allow}\n"
    )
    with pytest.raises(CaseError, match="initator"):
        run_cases(policy_engine.current(), tmp_path)


def test_a_wrong_panel_expectation_fails_and_shows_the_case(tmp_path):
    (tmp_path / "panels.yaml").write_text(
        """
panels:
  - name: a new beneficiary (wrongly expected to need nothing)
    tiers: [{currency: EUR, min_amount: "10,000.00", approvals: 2}]
    payment: {amount: "5.00", new_beneficiary: true}
    expect: {approvals: 0}
"""
    )
    report = run_cases(policy_engine.current(), tmp_path)
    assert not report.ok
    text = format_report(report)
    assert "FAIL panel a new beneficiary" in text
    assert "expected {'approvals': 0}, got {'approvals': 1, 'group_a': 0}" in text
    assert "case:" in text


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
