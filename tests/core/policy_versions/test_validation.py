"""Validating a proposal: what refuses it, concretely (no database)."""

from __future__ import annotations

from core.policy.engine import PolicyEngine
from core.policy_versions.validation import validate
from core.settings import REPO_ROOT
from tests.policy_versions_world import bundled_files, tighter_bookkeeper

CASES = REPO_ROOT / "policies" / "tests"
REFERENCE = PolicyEngine.from_dir(REPO_ROOT / "policies")


def test_the_bundled_files_are_valid_and_a_proposal_brings_its_own_cases():
    report, engine = validate(bundled_files(), reference=REFERENCE, cases_dir=CASES)
    assert report.ok and engine is not None and report.cases_run == report.cases_passed > 200
    proposal = tighter_bookkeeper()
    report, _ = validate(
        proposal["files"], reference=REFERENCE, cases_dir=CASES, extra_cases=proposal["cases"]
    )
    assert report.ok and report.replaced_case_files == ["roles.yaml"]


def test_dropping_an_action_is_refused_even_when_the_cases_pass():
    files = bundled_files()
    vocabulary = files["vocabulary.polar"]
    line = 'permission("policy.read",'
    start = vocabulary.index(line)
    files["vocabulary.polar"] = vocabulary[:start] + vocabulary[vocabulary.index("\n", start) :]
    report, _ = validate(files, reference=REFERENCE, cases_dir=CASES)
    assert not report.ok
    assert "policy.read" in report.dropped_actions
    assert "actions it drops: policy.read" in report.summary()


def test_a_case_file_that_cannot_be_read_refuses_the_proposal():
    report, _ = validate(
        bundled_files(),
        reference=REFERENCE,
        cases_dir=CASES,
        extra_cases={"mine.yaml": "cases:\n  - {name: x, action: account.read, expect: maybe}\n"},
    )
    assert not report.ok and report.case_error and "maybe" in report.case_error
