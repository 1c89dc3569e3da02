"""Validating a company's proposed extension before it is stored: it has the one shape a
company's rules may have (core.policy.tenant_rules: tenant_refuses rules only, comparisons
only), it loads beside the platform version the company runs, its own cases pass decided
with it loaded (compiled and directly, as every policy case), and every reason it gives is
expected by one of them. The platform's cases are not run with it: an extension refuses
what they may expect allowed, which is its point; it can never allow more (its shape)."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from core.policy.cases import CaseError, load_cases, run_case
from core.policy.engine import PolicyEngine, PolicyError, PolicyFile
from core.policy.tenant_rules import ExtensionRefused, rules_of
from core.policy_versions.validation import CaseFailure, ValidationReport


def validate_extension(
    files: Mapping[str, str],
    *,
    platform: PolicyEngine,
    cases: Mapping[str, str],
) -> ValidationReport:
    """Hold an extension's `files` to its shape, load them beside `platform` (the company's
    version) and run `cases` (name -> YAML text, as policies/tests) with them."""
    report = ValidationReport(ok=False)
    reasons: set[str] = set()
    for name, text in sorted(files.items()):
        try:
            reasons.update(rule.reason for rule in rules_of(text))
        except ExtensionRefused as exc:
            report.extension_errors.append(f"{name}: {exc}")
    if report.extension_errors:
        return report
    try:
        engine = PolicyEngine(
            platform.files,
            extension=[PolicyFile(name, text) for name, text in files.items()],
            source="the proposed extension",
        )
    except PolicyError as exc:
        report.load_error = str(exc)
        return report
    try:
        covered = _run(engine, cases, report)
    except (CaseError, PolicyError, ValueError, KeyError, TypeError) as exc:
        report.case_error = str(exc)[:1000]
        return report
    report.uncovered_rules = sorted(reasons - covered)
    report.ok = not (report.failures or report.uncovered_rules)
    return report


def _run(engine: PolicyEngine, cases: Mapping[str, str], report: ValidationReport) -> set[str]:
    """Run the cases into `report`; answers the reasons that passing cases expect."""
    covered: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="mandate-extension-cases-") as folder:
        directory = Path(folder)
        for name, text in cases.items():
            (directory / name).write_text(text, "utf-8")
        for file, data, case in load_cases(directory):
            if "extension" in data:
                raise CaseError(f"{file}: an extension's cases are decided with the extension")
            result = run_case(engine, file, data, case)
            report.cases_run += 1
            if not result.passed:
                report.failures.append(
                    CaseFailure(
                        file=file, name=result.name, expected=result.expected, got=result.actual
                    )
                )
                continue
            report.cases_passed += 1
            covered.add(result.expected.removeprefix("deny: "))
    return covered
