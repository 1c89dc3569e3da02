"""Table-driven policy cases (policies/tests/*.yaml), run by `mandate policy test`.

A case names an actor, the grants it holds, an action on a resource, a time and an amount,
and the decision expected. Each case is decided twice, compiled and directly, through the
same fact-shaping code the API uses; both must give the expected answer. The run also
checks coverage: every built-in role and every refusal reason appears in some case."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from oso import Variable

from core.clock import DAY_NAMES, minutes_of_day
from core.context import Actor
from core.models.iam import Grant, Role
from core.models.ledger import Account
from core.money import parse_amount
from core.policy.engine import Decision, PolicyEngine
from core.policy.reasons import REASONS
from core.policy.shaping import (
    Gathered,
    GrantSpendTotals,
    Money,
    Proposal,
    Resource,
    carrying,
    shape_request,
)

ACTOR_ID = 100
TENANT = 1
OTHER_TENANT = 2
BANK = 1


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


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)
    missing_roles: list[str] = field(default_factory=list)
    missing_reasons: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if not r.passed]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.missing_roles and not self.missing_reasons


def load_cases(directory: Path) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(file name, file-level data, case) for every case in the directory."""
    out = []
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for case in data.get("cases", []):
            out.append((path.name, data, case))
    return out


def run_cases(engine: PolicyEngine, directory: Path) -> Report:
    report = Report()
    roles_seen: set[str] = set()
    reasons_seen: set[str] = set()
    for file, data, case in load_cases(directory):
        try:
            result = run_case(engine, file, data, case)
        except (KeyError, TypeError, ValueError) as exc:
            raise CaseError(f"{file}: case {case.get('name', '?')!r}: {exc}") from exc
        report.results.append(result)
        for spec in _grant_specs(data, case):
            roles_seen.add(spec.get("role", ""))
        if result.expected.startswith("deny: "):
            reasons_seen.add(result.expected.removeprefix("deny: "))
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


def _grant_specs(data: dict[str, Any], case: dict[str, Any]) -> list[dict[str, Any]]:
    named = data.get("grants", {}) or {}
    specs = []
    for item in case.get("grants", []):
        if isinstance(item, str):
            if item not in named:
                raise KeyError(f"no grant named {item!r} in the file's grants")
            specs.append(named[item])
        else:
            specs.append(item)
    return specs


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


def _minor(value: Any, currency: str) -> int | None:
    if value is None:
        return None
    return parse_amount(str(value), currency)


def _when(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        raise ValueError(f"{value}: give the time zone offset")
    return when


def _limits(target: Grant | Role, spec: dict[str, Any] | None) -> None:
    if not spec:
        return
    currency = spec["currency"]
    target.limit_currency = currency
    target.per_transfer_limit = _minor(spec.get("per_transfer"), currency)
    target.daily_limit = _minor(spec.get("daily"), currency)
    target.monthly_limit = _minor(spec.get("monthly"), currency)


def _build_grant(index: int, spec: dict[str, Any], actor: Actor) -> tuple[Grant, Role, list[str]]:
    key = spec.get("role", "payer")
    custom = key == "custom"
    level = "bank" if key in ("bank_manager", "compliance_officer") else "tenant"
    tenant = spec.get("tenant", actor.tenant_id if level == "tenant" else None)
    role_id = 1000 + index
    role = Role(
        id=role_id,
        bank_id=BANK,
        tenant_id=tenant if level == "tenant" else None,
        key=key,
        name=key,
        builtin=not custom,
        level=level,
    )
    _limits(role, spec.get("role_limits"))
    grant = Grant(
        id=index + 1,
        user_id=actor.user_id,
        role_id=role_id,
        bank_id=BANK,
        tenant_id=tenant if level == "tenant" else None,
        all_accounts=True,
        valid_from=_when(spec.get("valid_from")),
        valid_until=_when(spec.get("valid_until")),
    )
    _limits(grant, spec.get("limits"))
    window = spec.get("window")
    if window:
        grant.window_days = "".join(str(DAY_NAMES.index(d)) for d in window["days"])
        grant.window_start = minutes_of_day(str(window["start"]))
        grant.window_end = minutes_of_day(str(window["end"]))
        grant.window_zone = window["time_zone"]
    return grant, role, list(spec.get("permissions", []))


def _actor(value: Any) -> Actor:
    if value in (None, "customer"):
        return Actor(ACTOR_ID, "case", "Case", BANK, TENANT)
    if value == "staff":
        return Actor(ACTOR_ID, "case", "Case", BANK, None)
    if isinstance(value, dict):
        kind = value.get("kind", "customer")
        tenant = value.get("tenant", TENANT) if kind == "customer" else None
        return Actor(value.get("id", ACTOR_ID), "case", "Case", value.get("bank", BANK), tenant)
    raise ValueError(f"actor is customer, staff or a mapping, not {value!r}")


def _resource(value: Any, actor: Actor) -> Resource:
    if value in (None, "account"):
        return Resource("account", 1, TENANT, BANK)
    if value == "other-tenant-account":
        return Resource("account", 2, OTHER_TENANT, BANK)
    if value == "bank":
        return Resource.of_bank(BANK)
    if value == "tenant":
        return Resource.of_tenant(TENANT, BANK)
    if isinstance(value, dict):
        kind = value.get("type", "account")
        tenant = value.get("tenant", TENANT if kind != "bank" else None)
        extra = tuple((k, v) for k, v in value.items() if k not in ("type", "tenant", "id", "bank"))
        ident = value.get("id", actor.user_id if value.get("self") else 1)
        extra = tuple((k, v) for k, v in extra if k != "self")
        return Resource(kind, ident, tenant or None, value.get("bank", BANK), extra=extra)
    raise ValueError(f"unknown resource {value!r}")


def _counterparty(value: Any, currency: str) -> Account:
    if value in (None, "same-tenant"):
        return Account(bank_id=BANK, tenant_id=TENANT, name="", currency=currency, kind="customer")
    if value == "other-tenant":
        return Account(
            bank_id=BANK, tenant_id=OTHER_TENANT, name="", currency=currency, kind="customer"
        )
    if value == "clearing":
        return Account(bank_id=BANK, tenant_id=None, name="", currency=currency, kind="clearing")
    raise ValueError(f"counterparty is same-tenant, other-tenant or clearing, not {value!r}")


def run_case(
    engine: PolicyEngine, file: str, data: dict[str, Any], case: dict[str, Any]
) -> CaseResult:
    defaults = data.get("defaults", {}) or {}
    merged = {**defaults, **case}
    actor = _actor(merged.get("actor"))
    action = merged["action"]
    currency = merged.get("currency", "EUR")
    at = _when(merged.get("at", "2026-11-25T10:00:00+01:00"))
    assert at is not None
    resource = _resource(merged.get("resource"), actor)
    built = [_build_grant(i, spec, actor) for i, spec in enumerate(_grant_specs(data, merged))]
    gathered = Gathered(
        pairs=[(g, r) for g, r, _ in built],
        permissions={r.id: perms for _, r, perms in built if r.id is not None},
    )
    gathered.pairs = carrying(engine, gathered, action)
    money = None
    if engine.holds("moves_money", action):
        amount = _minor(merged.get("amount", "1.00"), currency)
        assert amount is not None
        money = Money(amount, currency, _counterparty(merged.get("counterparty"), currency))
        if actor.tenant_id is not None:
            gathered.caps = {
                level: {k: _minor(v, currency) for k, v in limits.items()}  # type: ignore[misc]
                for level, limits in (merged.get("caps") or {}).items()
            }
        # The case gives amounts in major units; each is converted once.
        today = merged.get("spent_today", 0)
        month = merged.get("spent_month", today)
        spent_today = _minor(today, currency) or 0
        spent_month = _minor(month, currency)
        for grant, _ in gathered.pairs:
            gathered.spend[grant.id] = GrantSpendTotals(  # type: ignore[index]
                spent_today=spent_today, spent_month=spent_month or 0
            )
        # What the person sent under all their grants: as under the one grant, unless the
        # case says more was sent through other grants.
        person_today = _minor(merged.get("person_spent_today", today), currency) or 0
        person_month = _minor(
            merged.get("person_spent_month", merged.get("person_spent_today", month)),
            currency,
        )
        gathered.person_spend = GrantSpendTotals(person_today, person_month or 0)
    proposal = None
    if "proposal" in merged:
        spec = merged["proposal"]
        cur = spec.get("currency", currency)
        proposal = Proposal(
            cur,
            _minor(spec.get("per_transfer"), cur),
            _minor(spec.get("daily"), cur),
            _minor(spec.get("monthly"), cur),
        )
        gathered.proposal_caps = {
            level: {k: _minor(v, cur) for k, v in limits.items()}  # type: ignore[misc]
            for level, limits in (merged.get("caps") or {}).items()
        }
    facts = shape_request(
        gathered,
        actor=actor,
        action=action,
        resource=resource,
        now=at,
        money=money,
        proposal=proposal,
        tenant_zone=merged.get("tenant_zone", "Europe/Berlin"),
    )
    return CaseResult(
        file=file,
        name=case["name"],
        expected=_expected(case["expect"]),
        compiled=engine.decide(facts.request, facts.values),
        direct=engine.decide_direct(facts.request, facts.values),
        case=case,
    )


def format_report(report: Report, *, verbose: bool = False) -> str:
    lines = []
    by_file: dict[str, list[CaseResult]] = {}
    for result in report.results:
        by_file.setdefault(result.file, []).append(result)
    for file, results in by_file.items():
        passed = sum(r.passed for r in results)
        lines.append(f"{file}: {passed}/{len(results)} passed")
        for r in results:
            if verbose or not r.passed:
                mark = "ok  " if r.passed else "FAIL"
                expected = r.expected + (f" {r.expected_detail}" if r.expected_detail else "")
                lines.append(f"  {mark} {r.name}: expected {expected}, got {r.actual}")
            if not r.passed:
                direct = "allow" if r.direct.allowed else f"deny: {r.direct.reason}"
                lines.append(
                    f"       direct evaluation: {direct}; detail: {dict(r.compiled.detail)}"
                )
                lines.append(f"       case: {r.case}")
    if report.missing_roles:
        lines.append(f"built-in roles no case covers: {', '.join(report.missing_roles)}")
    if report.missing_reasons:
        lines.append(f"refusal reasons no case expects: {', '.join(report.missing_reasons)}")
    total = len(report.results)
    lines.append(
        f"{total - len(report.failures)}/{total} cases passed" + ("" if report.ok else " — FAILED")
    )
    return "\n".join(lines)
