"""Validating a proposed policy before it is stored: it loads, every case passes, and it
still covers what the running code relies on.

Coverage, concretely (each a list in the report; any entry refuses the proposal):
* missing_roles: a built-in role some case does not exercise (as `mandate policy test`);
* missing_reasons: a refusal reason of core.policy.reasons no case expects;
* dropped_roles: a built-in role of the version in force (seeded as data for every bank and
  tenant) the proposal no longer declares with the same level: users hold those roles;
* dropped_actions: an action of the version in force the proposal no longer knows: the code
  asks the policy about each of them;
* missing_condition_texts: a reason without its words (condition_text/2) for the console.
A built-in role may carry fewer permissions (that is how a right is taken away), never none."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from oso import Variable
from pydantic import BaseModel, Field

from core.errors import InvalidRequest
from core.policy.cases import CaseError, run_cases
from core.policy.engine import PolicyEngine, PolicyError, PolicyFile
from core.policy.reasons import REASONS


class CaseFailure(BaseModel):
    file: str
    name: str
    expected: str
    got: str


class ValidationReport(BaseModel):
    """What validating a proposal found. `ok` only when everything holds."""

    ok: bool
    load_error: str | None = None
    case_error: str | None = None
    cases_run: int = 0
    cases_passed: int = 0
    failures: list[CaseFailure] = Field(default_factory=list)
    missing_roles: list[str] = Field(default_factory=list)
    missing_reasons: list[str] = Field(default_factory=list)
    dropped_roles: list[str] = Field(default_factory=list)
    dropped_actions: list[str] = Field(default_factory=list)
    missing_condition_texts: list[str] = Field(default_factory=list)
    empty_roles: list[str] = Field(default_factory=list)
    # Bundled case files the proposal's own cases replaced (for the reviewer's eye).
    replaced_case_files: list[str] = Field(default_factory=list)
    # A company's extension (core.policy_versions.extension_validation): what its shape
    # breaks (any entry refuses it), and its reasons no case expects.
    extension_errors: list[str] = Field(default_factory=list)
    uncovered_rules: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        """One sentence for a refusal."""
        if self.load_error:
            return f"the policy does not load: {self.load_error}"
        if self.case_error:
            return f"a case cannot be read: {self.case_error}"
        parts = [f"not a company's rules: {error}" for error in self.extension_errors]
        if self.failures:
            first = self.failures[0]
            parts.append(
                f"{len(self.failures)} of {self.cases_run} cases fail (first: {first.file}: "
                f"{first.name}: expected {first.expected}, got {first.got})"
            )
        for label, items in (
            ("built-in roles no case covers", self.missing_roles),
            ("refusal reasons no case expects", self.missing_reasons),
            ("built-in roles it drops", self.dropped_roles),
            ("actions it drops", self.dropped_actions),
            ("reasons without condition_text", self.missing_condition_texts),
            ("built-in roles carrying nothing", self.empty_roles),
            ("company rules no case expects", self.uncovered_rules),
        ):
            if items:
                parts.append(f"{label}: {', '.join(items)}")
        return "; ".join(parts) or "valid"


def refusal(report: ValidationReport, what: str) -> InvalidRequest:
    """The 422 policy_invalid a failed report answers: its failing cases, and the report."""
    return InvalidRequest(
        f"{what} is refused: {report.summary()}",
        code="policy_invalid",
        body={
            "failures": [f.model_dump() for f in report.failures],
            "report": report.model_dump(),
        },
    )


def validate(
    files: Mapping[str, str],
    *,
    reference: PolicyEngine,
    cases_dir: Path,
    extra_cases: Mapping[str, str] | None = None,
) -> tuple[ValidationReport, PolicyEngine | None]:
    """Load `files` in an engine of their own and hold them to the cases of `cases_dir` and
    `extra_cases` (name -> YAML text), and to what `reference` (the version in force)
    declares. Answers the report, and the engine when it loaded."""
    try:
        engine = PolicyEngine(
            [PolicyFile(name, text) for name, text in files.items()], source="the proposal"
        )
    except PolicyError as exc:
        return ValidationReport(ok=False, load_error=str(exc)), None
    report = ValidationReport(ok=False)
    bundled = {path.name for path in cases_dir.glob("*.yaml")}
    report.replaced_case_files = sorted(bundled & set(extra_cases or {}))
    with tempfile.TemporaryDirectory(prefix="mandate-cases-") as folder:
        directory = Path(folder)
        for path in sorted(cases_dir.glob("*.yaml")):
            (directory / path.name).write_text(path.read_text(encoding="utf-8"), "utf-8")
        for name, text in (extra_cases or {}).items():
            # A proposal's case file of a bundled name replaces it (a change of the rules
            # changes what their cases expect); the report names each one replaced.
            (directory / name).write_text(text, "utf-8")
        try:
            cases = run_cases(engine, directory)
        except (CaseError, PolicyError, ValueError) as exc:
            # A YAML error, or a case the policy cannot answer (decide/5 with no answer).
            report.case_error = str(exc)[:1000]
            return report, engine
    report.cases_run = len(cases.every_result)
    report.cases_passed = report.cases_run - len(cases.failures)
    report.failures = [
        CaseFailure(
            file=r.file,
            name=r.name,
            expected=str(r.expected),
            got=r.actual if isinstance(r.actual, str) else str(r.actual),
        )
        for r in cases.failures
    ]
    report.missing_roles = cases.missing_roles
    report.missing_reasons = cases.missing_reasons
    report.dropped_roles = sorted(
        f"{key} ({level})" for key, level in _builtin_roles(reference) - _builtin_roles(engine)
    )
    report.dropped_actions = sorted(_actions(reference) - _actions(engine))
    texts = {a["reason"] for a in engine.query("condition_text", Variable("reason"), Variable("t"))}
    report.missing_condition_texts = sorted(set(REASONS) - texts - {"not_found"} - {"ok"})
    report.empty_roles = sorted(
        key
        for key, _level in _builtin_roles(engine)
        if not engine.query("builtin_carries", key, Variable("p"))
    )
    report.ok = not (
        report.failures
        or report.missing_roles
        or report.missing_reasons
        or report.dropped_roles
        or report.dropped_actions
        or report.missing_condition_texts
        or report.empty_roles
    )
    return report, engine


def _builtin_roles(engine: PolicyEngine) -> set[tuple[str, str]]:
    answers = engine.query(
        "builtin_role", Variable("key"), Variable("level"), Variable("name"), Variable("d")
    )
    return {(a["key"], a["level"]) for a in answers}


def _actions(engine: PolicyEngine) -> set[str]:
    return {a["name"] for a in engine.query("action", Variable("name"))}
