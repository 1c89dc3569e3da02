"""A company's extension can only narrow, by construction, and the engines per policy are
what the decisions use.

* The shape (core.policy.tenant_rules): tenant_refuses rules only, comparisons only; Polar's
  own lexical rules, so a comment or a string never hides a rule.
* The property: for random requests and facts (the strategies of test_compiled.py, with the
  company's time and a beneficiary's age) and random extensions (rules drawn from the facts a
  company's rule may compare), every allow with the extension is an allow without it; every
  refusal without it is the same refusal with it; what the extension refuses more it refuses
  with its own reason; and its decisions compiled equal its decisions evaluated directly.
* The registry: a tenant's decisions go to its own engine, a bounded number are held, a
  tenant whose extension's files are missing fails rather than run without them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.policy import engine as policy_engine
from core.policy.engine import Dynamic, PolicyEngine, PolicyError, PolicyFile
from core.policy.registry import Assignments, Registry, TenantPolicy
from core.policy.tenant_rules import ExtensionRefused, rules_of
from tests.core.policy.strategies import MONEY_ACTIONS, requests, values_for
from tests.policy_versions_world import tighter_bookkeeper
from tests.tenant_policy_world import FRIDAY_RULE, REASON

# -- the shape ------------------------------------------------------------------------------


def test_a_comment_or_a_string_never_hides_a_rule() -> None:
    text = (
        '# decide(request, "allow", "ok", nil, {});\n'
        'tenant_refuses(request, "tenant_rule:hash_sign", "No # here; decide(x)") if\n'
        '    request.currency = "EUR;decide(";  # allow(a, b, c);\n'
    )
    [rule] = rules_of(text)
    assert rule.text == "No # here; decide(x)" and rule.line == 2


@pytest.mark.parametrize(
    "text",
    [
        'tenant_refuses(request, "tenant_rule:x", "No.") if request.amount > 5',  # no ;
        'tenant_refuses(request, "tenant_rule:x", "No.") if (request.amount > 5;',
        'tenant_refuses(request, "tenant_rule:x", "No.") if ;',
        'tenant_refuses(request, "tenant_rule:x", "No.") if request.amount.abs() > 5;',
        'tenant_refuses(request, "tenant_rule:x", "No.") if forall(x in [], x = 1);',
        'tenant_refuses(request, "tenant_rule:x", "No.") if cut;',
        'tenant_refuses(request, "tenant_rule:x", "No.") if x = new Foo();',
        'tenant_refuses(request, "tenant_rule:x", "No.") if tenant_refuses(request, _, _);',
        'tenant_refuses(request, "tenant_rule:X", "No.");',  # not lowercase
        'tenant_refuses(request, "tenant_rule:x", "");',  # no sentence
        'tenant_refuses(request, "tenant_rule:x", "Line\\nbreak");',
        'tenant_refuses(request, "tenant_rule:x", "One.");\n'
        'tenant_refuses(request, "tenant_rule:x", "Another.");',
        'tenant_refuses(request, "tenant_rule:x") if request.amount > 5;',
        'tenant_refuses(request, "tenant_rule:x", "No.") if request.amount > 5; ?= 1 = 1;',
        'tenant_refuses(request, "tenant_rule:x", "No.") if request.amount > 5; \u00a0',
        "",
    ],
)
def test_anything_but_a_refusal_of_comparisons_is_refused(text: str) -> None:
    with pytest.raises(ExtensionRefused):
        rules_of(text)


def test_the_friday_rule_has_the_shape() -> None:
    [rule] = rules_of(FRIDAY_RULE)
    assert rule.reason == REASON and rule.name == "new_beneficiary_friday"


# -- the property ---------------------------------------------------------------------------

ACTIONS = ["transfer.create", "payment.create", "payment.approve", "account.read"]
COMPARISONS = ["=", "!=", "<", "<=", ">", ">="]


@st.composite
def conditions(draw: Any) -> str:
    """One comparison of a fact a company's rule may read with a constant."""
    op = draw(st.sampled_from(COMPARISONS))
    return draw(
        st.sampled_from(
            [
                f'request.action = "{draw(st.sampled_from(ACTIONS))}"',
                f"request.amount {op} {draw(st.integers(0, 12_000))}",
                f"request.local_time.weekday {op} {draw(st.integers(0, 6))}",
                f"request.local_time.minute {op} {draw(st.integers(0, 1440))}",
                f"request.beneficiary.age_days {op} {draw(st.integers(0, 10))}",
                f"request.local_time.weekday in {sorted(draw(st.sets(st.integers(0, 6))))}",
                'request.currency = "EUR"',
                'request.counterparty.kind = "clearing"',
                f"request.resource.tenant = {draw(st.integers(1, 2))}",
                f"request.payment.still_needed {op} {draw(st.integers(0, 3))}",
            ]
        )
    )


@st.composite
def extensions(draw: Any) -> str:
    rules = []
    for index in range(draw(st.integers(1, 3))):
        clauses = draw(st.lists(conditions(), min_size=0, max_size=3))
        # Polar refuses a variable used once: a rule without a condition names it _request.
        parameter = "request" if clauses else "_request"
        head = f'tenant_refuses({parameter}, "tenant_rule:r{index}", "Rule {index} refuses.")'
        joiner = draw(st.sampled_from([" and ", " and ", " or "]))
        rules.append(head + (f" if {joiner.join(clauses)};" if clauses else ";"))
    return "\n".join(rules) + "\n"


def with_company_facts(request: dict[str, Any], values: dict[str, Any], data: Any) -> None:
    """What core.policy.shaping adds for money: the company's time, a payment's payee's age."""
    if request["action"] in MONEY_ACTIONS:
        request["local_time"] = {
            "weekday": Dynamic("local.weekday"),
            "minute": Dynamic("local.minute"),
        }
        values["local.weekday"] = data.draw(st.integers(0, 6))
        values["local.minute"] = data.draw(st.integers(0, 1439))
    if request["action"] == "payment.create":
        request["beneficiary"] = {"age_days": Dynamic("beneficiary.age_days")}
        values["beneficiary.age_days"] = data.draw(st.integers(0, 10))


@st.composite
def company_requests(draw: Any) -> dict[str, Any]:
    """The strategies' requests, half of them money the platform allows (a payer without
    limits or window, to an account the money may go to): where a company's rule matters."""
    request: dict[str, Any] = draw(requests())
    if request["action"] not in MONEY_ACTIONS or draw(st.booleans()):
        return request
    request["resource"] = {"type": "account", "level": "tenant", "tenant": 1, "bank": 1}
    request["counterparty"] = {"kind": "customer", "level": "tenant", "tenant": 1, "bank": 1}
    nothing = {"set": False}
    request["grants"] = [
        {
            "id": 1,
            "level": "tenant",
            "tenant": 1,
            "bank": 1,
            "role": {
                "key": "payer",
                "builtin": True,
                "level": "tenant",
                "permissions": [],
                "limit_currency": nothing,
            },
            "limit_currency": nothing,
            "valid_from": nothing,
            "valid_until": nothing,
            "window": nothing,
            "approval": {"group": nothing, "limit": nothing, "daily_limit": nothing},
            "caps": {"per_transfer": [], "daily": [], "monthly": []},
            **{name: Dynamic(f"g0.{name}") for name in ("weekday", "minute", "day_total")},
            "month_total": Dynamic("g0.month_total"),
        }
    ]
    return request


def _outcome(decision: Any) -> tuple[bool, str, int | None, dict[str, Any]]:
    return (decision.allowed, decision.reason, decision.grant_id, dict(decision.detail))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), text=extensions())
def test_an_extension_only_ever_narrows(data: Any, text: str) -> None:
    rules_of(text)  # every drawn extension has the one shape
    base = policy_engine.current()
    extended = PolicyEngine(base.files, extension=[PolicyFile("company.polar", text)])
    request = data.draw(company_requests())
    for _ in range(4):
        values = data.draw(values_for(request))
        with_company_facts(request, values, data)
        without = base.decide_direct(request, values)
        compiled = extended.decide(request, values)
        direct = extended.decide_direct(request, values)
        assert _outcome(compiled) == _outcome(direct), (text, request, values)
        if compiled.allowed:
            assert without.allowed, (text, request, values)
        elif without.allowed:
            assert compiled.reason.startswith("tenant_rule:"), compiled.reason
        else:
            assert _outcome(compiled) == _outcome(without), (text, request, values)


def _tighter() -> PolicyEngine:
    files = tighter_bookkeeper()["files"]
    return PolicyEngine([PolicyFile(name, text) for name, text in files.items()])


TIGHTER = _tighter()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_compiled_decisions_equal_direct_evaluation_per_version(data: Any) -> None:
    """Each engine a process holds (another platform version, the same with an extension)
    compiles its own decisions, equal to its direct evaluation."""
    engine = data.draw(
        st.sampled_from(
            [
                TIGHTER,
                PolicyEngine(TIGHTER.files, extension=[PolicyFile("acme.polar", FRIDAY_RULE)]),
            ]
        )
    )
    request = data.draw(requests())
    for _ in range(4):
        values = data.draw(values_for(request))
        with_company_facts(request, values, data)
        compiled = engine.decide(request, values)
        assert compiled.compiled
        assert compiled.policy_version == TIGHTER.version
        assert _outcome(compiled) == _outcome(engine.decide_direct(request, values))


# -- the registry ---------------------------------------------------------------------------


def _assignments(**tenants: TenantPolicy) -> Assignments:
    files = {
        TIGHTER.version: tuple(TIGHTER.files),
        "ext-acme": (PolicyFile("acme.polar", FRIDAY_RULE),),
    }
    return Assignments(tenants={int(k[1:]): v for k, v in tenants.items()}, files=files)


def test_each_tenant_decides_under_its_own_policy_and_the_bank_under_the_default() -> None:
    held = Registry(capacity=4)
    held.install(
        _assignments(
            t1=TenantPolicy(extension="ext-acme"),
            t2=TenantPolicy(version=TIGHTER.version),
        )
    )
    default = policy_engine.current()
    assert held.for_tenant(None) is default and held.for_tenant(3) is default
    acme, globex = held.for_tenant(1), held.for_tenant(2)
    assert (acme.version, acme.extension_version) == (default.version, "ext-acme")
    assert (globex.version, globex.extension_version) == (TIGHTER.version, None)
    # Built once, before the map was swapped in: the same engine every time.
    assert held.for_tenant(1) is acme and sorted(map(str, held.held())) == sorted(
        map(str, [(default.version, "ext-acme"), (TIGHTER.version, None)])
    )


def test_a_bounded_number_of_engines_is_held() -> None:
    held = Registry(capacity=2)
    tenants = {f"t{i}": TenantPolicy(extension=f"ext-{i}") for i in range(1, 5)}
    files = {f"ext-{i}": (PolicyFile("x.polar", FRIDAY_RULE),) for i in range(1, 5)}
    held.install(Assignments(tenants={int(k[1:]): v for k, v in tenants.items()}, files=files))
    assert len(held.held()) == 2
    for tenant in range(1, 5):
        assert held.for_tenant(tenant).extension_version == f"ext-{tenant}"
        assert len(held.held()) <= 2


def test_a_tenant_whose_extension_is_not_held_fails_rather_than_decide_without_it() -> None:
    held = Registry()
    held.install(Assignments(tenants={1: TenantPolicy(extension="missing")}, files={}))
    with pytest.raises(PolicyError):
        held.for_tenant(1)
