"""Table-driven policy cases (policies/tests/*.yaml), run by `mandate policy test`.

Two kinds of case, each in a list of its own in a file:

* `cases`: a decision. An actor, the grants it holds, an action on a resource, a time, an
  amount (and for an approval, the payment), and the decision expected. Each case is decided
  twice, compiled and directly, through the same fact-shaping code the API uses
  (core.policy.shaping.shape_request); both must give the expected answer.
* `panels`: an approval panel (approvals.polar: panel/4). The tiers that are set (the bank's
  minimums and the company's rules), a payment, and the approvals it needs; asked through
  the same code the API uses (core.policy.panels.panel_for).

The run also checks coverage: every built-in role and every refusal reason appears in some
decision case. The words of a case become rows in core.policy.case_facts."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from oso import Variable

from core.context import Actor
from core.policy import case_facts as facts_of
from core.policy import tenant_rules
from core.policy.case_facts import minor, when
from core.policy.engine import Decision, PolicyEngine, PolicyFile
from core.policy.panels import (
    Panel,
    batch_panel_for,
    is_about_a_payment,
    is_satisfied,
    panel_for,
    progress,
)
from core.policy.reasons import REASONS, family
from core.policy.shaping import (
    STEP_UP,
    Approval,
    Gathered,
    GrantSpendTotals,
    Money,
    Proposal,
    carrying,
    shape_request,
)

DEFAULT_AT = "2026-11-25T10:00:00+01:00"


class CaseError(ValueError):
    """A case file that cannot be read as written."""


@dataclass
class CaseResult:
    file: str
    name: str
    expected: str
    compiled: Decision
    direct: Decision
    case: dict[str, Any]

    @property
    def actual(self) -> str:
        return "allow" if self.compiled.allowed else f"deny: {self.compiled.reason}"

    @property
    def expected_detail(self) -> dict[str, Any]:
        """What the refusal's detail must hold, when the case says (e.g. which level)."""
        expect = self.case.get("expect")
        return dict(expect.get("detail") or {}) if isinstance(expect, dict) else {}

    @property
    def passed(self) -> bool:
        direct = "allow" if self.direct.allowed else f"deny: {self.direct.reason}"
        details = (dict(self.compiled.detail), dict(self.direct.detail))
        detail_ok = all(
            all(d.get(k) == v for k, v in self.expected_detail.items()) for d in details
        )
        return self.actual == self.expected == direct and detail_ok

    def summary(self) -> str:
        expected = self.expected + (f" {self.expected_detail}" if self.expected_detail else "")
        return f"expected {expected}, got {self.actual}"

    def failure(self) -> list[str]:
        direct = "allow" if self.direct.allowed else f"deny: {self.direct.reason}"
        return [
            f"direct evaluation: {direct}; detail: {dict(self.compiled.detail)}",
            f"case: {self.case}",
        ]


@dataclass
class PanelResult:
    """A panel case: what the panel asks (and, given approvals, what it still needs)."""

    file: str
    name: str
    expected: dict[str, Any]
    actual: dict[str, Any]
    case: dict[str, Any]

    @property
    def passed(self) -> bool:
        return all(self.actual.get(key) == value for key, value in self.expected.items())

    def summary(self) -> str:
        return f"expected {self.expected}, got {self.actual}"

    def failure(self) -> list[str]:
        return [f"case: {self.case}"]


Result = CaseResult | PanelResult


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)
    panels: list[PanelResult] = field(default_factory=list)
    missing_roles: list[str] = field(default_factory=list)
    missing_reasons: list[str] = field(default_factory=list)

    @property
    def every_result(self) -> list[Result]:
        return [*self.results, *self.panels]

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.every_result if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.missing_roles and not self.missing_reasons


Loaded = list[tuple[str, dict[str, Any], dict[str, Any]]]


def load_cases(directory: Path, kind: str = "cases") -> Loaded:
    """(file name, file-level data, case) for every case of `kind` ("cases": decisions,
    "panels": approval panels) in the directory."""
    out = []
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for case in data.get(kind, []) or []:
            out.append((path.name, data, case))
    return out


def run_cases(engine: PolicyEngine, directory: Path) -> Report:
    report = Report()
    roles_seen: set[str] = set()
    reasons_seen: set[str] = set()
    extended: dict[str, PolicyEngine] = {}
    for file, data, case in load_cases(directory):
        deciding = engine_for(engine, file, data, extended)
        result = _guarded(run_case, deciding, file, data, case)
        report.results.append(result)
        for spec in _grant_specs(data, case):
            roles_seen.add(spec.get("role", ""))
        if result.expected.startswith("deny: "):
            reasons_seen.add(family(result.expected.removeprefix("deny: ")))
    for file, data, case in load_cases(directory, "panels"):
        report.panels.append(_guarded(run_panel_case, engine, file, data, case))
    builtin = [
        a["key"]
        for a in engine.query(
            "builtin_role",
            Variable("key"),
            Variable("level"),
            Variable("name"),
            Variable("description"),
        )
    ]
    report.missing_roles = sorted(set(builtin) - roles_seen)
    report.missing_reasons = sorted(set(REASONS) - reasons_seen)
    return report


def engine_for(
    engine: PolicyEngine,
    file: str,
    data: dict[str, Any],
    built: dict[str, PolicyEngine] | None = None,
) -> PolicyEngine:
    """The engine a file's cases are decided with: with the company's rules the file's
    `extension` holds (Polar text, held to their one shape: core.policy.tenant_rules), or
    the policy alone."""
    text = data.get("extension")
    if text is None:
        return engine
    built = {} if built is None else built
    if file not in built:
        try:
            tenant_rules.rules_of(str(text))
        except tenant_rules.ExtensionRefused as exc:
            raise CaseError(f"{file}: its extension is refused: {exc}") from exc
        extension = [PolicyFile(file.removesuffix(".yaml") + ".polar", str(text))]
        built[file] = PolicyEngine(engine.files, extension=extension, source=file)
    return built[file]


def _guarded(run: Any, engine: PolicyEngine, file: str, data: Any, case: dict[str, Any]) -> Any:
    try:
        return run(engine, file, data, case)
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise CaseError(f"{file}: case {case.get('name', '?')!r}: {exc}") from exc


def _named(data: dict[str, Any], table: str, items: list[Any]) -> list[dict[str, Any]]:
    """Specs given inline, or by their name in the file's `table` (grants, tiers)."""
    named = data.get(table, {}) or {}
    specs = []
    for item in items:
        if isinstance(item, str):
            if item not in named:
                raise KeyError(f"no {table[:-1]} named {item!r} in the file's {table}")
            specs.append(named[item])
        else:
            specs.append(item)
    return specs


def _grant_specs(data: dict[str, Any], case: dict[str, Any]) -> list[dict[str, Any]]:
    return _named(data, "grants", case.get("grants", []))


def _expected(value: Any) -> str:
    if value == "allow":
        return "allow"
    if isinstance(value, str) and value.startswith("deny"):
        reason = value.partition(":")[2].strip()
        return f"deny: {reason}"
    if isinstance(value, dict) and "deny" in value:
        return f"deny: {value['deny']}"
    raise ValueError(
        f"expect is 'allow', 'deny: <reason>' or {{deny: <reason>, detail: {{...}}}}, not {value!r}"
    )


# -- decision cases -------------------------------------------------------------------------


def run_case(
    engine: PolicyEngine, file: str, data: dict[str, Any], case: dict[str, Any]
) -> CaseResult:
    merged = {**(data.get("defaults", {}) or {}), **case}
    action = merged["action"]
    currency = merged.get("currency", "EUR")
    at = when(merged.get("at", DEFAULT_AT))
    assert at is not None
    actor = dataclasses.replace(
        facts_of.actor(merged.get("actor")),
        authentication=facts_of.authentication(merged.get("authentication"), at),
    )
    built = [facts_of.build_grant(i, s, actor) for i, s in enumerate(_grant_specs(data, merged))]
    gathered = Gathered(
        pairs=[(g, r) for g, r, _ in built],
        permissions={r.id: perms for _, r, perms in built if r.id is not None},
    )
    gathered.pairs = carrying(engine, gathered, action)
    money = None
    if engine.holds("moves_money", action):
        money = _money(gathered, merged, actor, currency)
    proposal = _proposal(gathered, merged, currency) if "proposal" in merged else None
    # As the API gathers it: what the company asks for step-up, for the actions that check it.
    if STEP_UP in engine.conditions_of(action):
        gathered.step_up = facts_of.step_up(merged.get("step_up"))
    # payment.approve: what the approver approved today already (a daily approval limit).
    gathered.approved_today = minor(merged.get("approved_today", 0), currency) or 0
    facts = shape_request(
        gathered,
        actor=actor,
        action=action,
        resource=facts_of.resource(merged.get("resource"), actor),
        now=at,
        money=money,
        proposal=proposal,
        tenant_zone=merged.get("tenant_zone", "Europe/Berlin"),
        approval=_approval(engine, merged, actor, at, currency),
    )
    return CaseResult(
        file=file,
        name=case["name"],
        expected=_expected(case["expect"]),
        compiled=engine.decide(facts.request, facts.values),
        direct=engine.decide_direct(facts.request, facts.values),
        case=case,
    )


def _money(gathered: Gathered, merged: dict[str, Any], actor: Actor, currency: str) -> Money:
    """The money side, with the caps and the totals sent so far (the case gives amounts in
    major units; each is converted once)."""
    amount = minor(merged.get("amount", "1.00"), currency)
    assert amount is not None
    added = None
    if "beneficiary_age_days" in merged:
        # A payment's beneficiary, added this many days before the case's time.
        at = when(merged.get("at", DEFAULT_AT))
        assert at is not None
        added = at - dt.timedelta(days=float(merged["beneficiary_age_days"]))
    counterparty = facts_of.counterparty(merged.get("counterparty"), currency)
    money = Money(amount, currency, counterparty, beneficiary_added_at=added)
    if actor.tenant_id is not None:
        gathered.caps = {
            level: {k: minor(v, currency) for k, v in limits.items()}  # type: ignore[misc]
            for level, limits in (merged.get("caps") or {}).items()
        }
    today = merged.get("spent_today", 0)
    month = merged.get("spent_month", today)
    spent_today = minor(today, currency) or 0
    spent_month = minor(month, currency)
    for grant, _ in gathered.pairs:
        gathered.spend[grant.id] = GrantSpendTotals(  # type: ignore[index]
            spent_today=spent_today, spent_month=spent_month or 0
        )
    # What the person sent under all their grants: as under the one grant, unless the case
    # says more was sent through other grants.
    person_today = minor(merged.get("person_spent_today", today), currency) or 0
    person_month = minor(
        merged.get("person_spent_month", merged.get("person_spent_today", month)), currency
    )
    gathered.person_spend = GrantSpendTotals(person_today, person_month or 0)
    return money


def _proposal(gathered: Gathered, merged: dict[str, Any], currency: str) -> Proposal:
    spec = merged["proposal"]
    cur = spec.get("currency", currency)
    gathered.proposal_caps = {
        level: {k: minor(v, cur) for k, v in limits.items()}  # type: ignore[misc]
        for level, limits in (merged.get("caps") or {}).items()
    }
    return Proposal(
        cur,
        minor(spec.get("per_transfer"), cur),
        minor(spec.get("daily"), cur),
        minor(spec.get("monthly"), cur),
    )


def _approval(
    engine: PolicyEngine, merged: dict[str, Any], actor: Actor, at: dt.datetime, currency: str
) -> Approval | None:
    """The payment of an action about a waiting one (the actions whose conditions ask that it
    waits: approve, reject, cancel), as the case describes it or by default; its amount and
    currency are the case's."""
    if "payment" not in merged and not is_about_a_payment(merged["action"], engine):
        return None
    amount = minor(merged.get("amount", "1.00"), currency)
    assert amount is not None
    return facts_of.payment(merged.get("payment"), actor, now=at, amount=amount, currency=currency)


# -- panel cases ----------------------------------------------------------------------------

# What a panel case's payment is when it does not say: 1.00 EUR to a beneficiary elsewhere
# (external), from the case's account, to a beneficiary added long ago.
PANEL_PAYMENT: dict[str, Any] = {
    "amount": "1.00",
    "currency": "EUR",
    "kind": "external",
    "account": facts_of.ACCOUNT,
    "new_beneficiary": False,
}


def run_panel_case(
    engine: PolicyEngine, file: str, data: dict[str, Any], case: dict[str, Any]
) -> PanelResult:
    """What the panel asks of the payment (approvals, group_a); with `given` (the groups of
    the approvals counted so far, e.g. [B]), also what it still needs and whether it is
    satisfied."""
    merged = {**(data.get("defaults", {}) or {}), **case}
    if "batch" in merged:
        return _batch_panel_case(engine, file, data, case, merged)
    payment = {**PANEL_PAYMENT, **(merged.get("payment") or {})}
    unknown = set(payment) - set(PANEL_PAYMENT)
    if unknown:
        raise ValueError(f"a panel's payment has {', '.join(PANEL_PAYMENT)}, not {sorted(unknown)}")
    amount = minor(payment["amount"], payment["currency"])
    assert amount is not None
    panel = panel_for(
        [facts_of.tier(spec) for spec in _named(data, "tiers", merged.get("tiers", []))],
        currency=payment["currency"],
        amount=amount,
        kind=payment["kind"],
        account_id=payment["account"],
        new_beneficiary=bool(payment["new_beneficiary"]),
        engine=engine,
    )
    actual: dict[str, Any] = {"approvals": panel.approvals, "group_a": panel.group_a}
    if "given" in merged:
        actual.update(_after(engine, panel, merged["given"]))
    expected = case["expect"]
    if not isinstance(expected, dict) or not expected or set(expected) - set(actual):
        raise ValueError(f"expect holds some of {', '.join(actual)}, not {expected!r}")
    return PanelResult(file=file, name=case["name"], expected=expected, actual=actual, case=case)


# What a batch panel case's batch is when it does not say: 1.00 EUR in all, of payments
# elsewhere, from the case's account, to beneficiaries added long ago.
PANEL_BATCH: dict[str, Any] = {
    "total": "1.00",
    "currency": "EUR",
    "kinds": ["external"],
    "account": facts_of.ACCOUNT,
    "new_beneficiary": False,
}


def _batch_panel_case(
    engine: PolicyEngine,
    file: str,
    data: dict[str, Any],
    case: dict[str, Any],
    merged: dict[str, Any],
) -> PanelResult:
    """What the panel asks of a payment batch (approvals.polar: batch_panel/4)."""
    batch = {**PANEL_BATCH, **(merged.get("batch") or {})}
    unknown = set(batch) - set(PANEL_BATCH)
    if unknown:
        raise ValueError(f"a panel's batch has {', '.join(PANEL_BATCH)}, not {sorted(unknown)}")
    total = minor(batch["total"], batch["currency"])
    assert total is not None
    panel = batch_panel_for(
        [facts_of.tier(spec) for spec in _named(data, "tiers", merged.get("tiers", []))],
        currency=batch["currency"],
        total=total,
        kinds=batch["kinds"],
        account_id=batch["account"],
        new_beneficiary=bool(batch["new_beneficiary"]),
        engine=engine,
    )
    actual: dict[str, Any] = {"approvals": panel.approvals, "group_a": panel.group_a}
    expected = case["expect"]
    if not isinstance(expected, dict) or not expected or set(expected) - set(actual):
        raise ValueError(f"expect holds some of {', '.join(actual)}, not {expected!r}")
    return PanelResult(file=file, name=case["name"], expected=expected, actual=actual, case=case)


def _after(engine: PolicyEngine, panel: Panel, given: list[str | None]) -> dict[str, Any]:
    left = progress(panel, given)
    return {
        "still_needed": left.still_needed,
        "still_needed_a": left.still_needed_a,
        "satisfied": is_satisfied(left, engine),
    }


# -- the report -----------------------------------------------------------------------------


def format_report(report: Report, *, verbose: bool = False) -> str:
    lines = []
    by_file: dict[str, list[Result]] = {}
    for result in report.every_result:
        by_file.setdefault(result.file, []).append(result)
    for file, results in by_file.items():
        passed = sum(r.passed for r in results)
        lines.append(f"{file}: {passed}/{len(results)} passed")
        for r in results:
            if verbose or not r.passed:
                mark = "ok  " if r.passed else "FAIL"
                kind = "panel " if isinstance(r, PanelResult) else ""
                lines.append(f"  {mark} {kind}{r.name}: {r.summary()}")
            if not r.passed:
                lines.extend(f"       {line}" for line in r.failure())
    if report.missing_roles:
        lines.append(f"built-in roles no case covers: {', '.join(report.missing_roles)}")
    if report.missing_reasons:
        lines.append(f"refusal reasons no case expects: {', '.join(report.missing_reasons)}")
    total = len(report.results) + len(report.panels)
    lines.append(
        f"{total - len(report.failures)}/{total} cases passed" + ("" if report.ok else " — FAILED")
    )
    return "\n".join(lines)
