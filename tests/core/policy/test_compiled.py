"""The compiled decisions are the policy's decisions: for random facts (grants with limits at
every level, windows across midnight, validity, custom roles) and random amounts, times and
totals, the cached residual checks answer exactly what Polar answers evaluating directly."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.policy import engine as policy_engine
from core.policy.engine import fill
from tests.core.policy.strategies import (
    MONEY_ACTIONS,
    PAYMENT_ACTIONS,
    approval_requests,
    requests,
    values_for,
)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_compiled_decisions_equal_direct_evaluation(data):
    engine = policy_engine.current()
    request = data.draw(requests())
    for _ in range(6):
        values = data.draw(values_for(request))
        compiled = engine.decide(request, values)
        direct = engine.decide_direct(request, values)
        assert compiled.compiled
        assert (compiled.allowed, compiled.reason, compiled.grant_id, dict(compiled.detail)) == (
            direct.allowed,
            direct.reason,
            direct.grant_id,
            dict(direct.detail),
        ), (request, values)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_compiled_approvals_equal_direct_evaluation(data):
    """Approvals and rejections by approvers: every condition about the payment (it waits
    until its expiry, not one's own, not approved twice, the group fills a place, within the
    approval limit and its currency) is met or failed, compiled as directly."""
    engine = policy_engine.current()
    request = data.draw(approval_requests())
    for _ in range(4):
        values = data.draw(values_for(request))
        compiled = engine.decide(request, values)
        direct = engine.decide_direct(request, values)
        assert compiled.compiled
        assert (compiled.allowed, compiled.reason, compiled.grant_id, dict(compiled.detail)) == (
            direct.allowed,
            direct.reason,
            direct.grant_id,
            dict(direct.detail),
        ), (request, values)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_each_condition_either_holds_or_fails_never_both(data):
    """Refusals use the positive `fails` form of each condition (no `not` over dynamic
    facts); it must be the exact complement of `holds`."""
    engine = policy_engine.current()
    request = data.draw(
        requests().filter(
            lambda r: r["action"] in (*MONEY_ACTIONS, *PAYMENT_ACTIONS) and r["grants"]
        )
    )
    values = data.draw(values_for(request))
    filled = fill(request, values)
    from oso import Variable

    conditions = engine.query("conditions", request["action"], Variable("names"))
    assert conditions, request["action"]
    for grant in filled["grants"]:
        for condition in conditions[0]["names"]:
            holds = engine.holds("passes", condition, grant, filled)
            fails = engine.holds("refuses", condition, grant, filled, Variable("detail"))
            assert holds != fails, (condition, grant, values)


def test_decisions_are_cached_per_static_facts_only(world):
    engine = policy_engine.current()
    request = {
        "action": "account.read",
        "actor": {"id": 1, "kind": "customer", "tenant": 1, "bank": 1},
        "resource": {"type": "account", "level": "tenant", "tenant": 1, "bank": 1},
        "now": policy_engine.Dynamic("now"),
        "grants": [],
    }
    engine.decide(request, {"now": 1})
    misses = engine.cache_misses
    for now in range(2, 50):
        engine.decide(request, {"now": now})
    assert engine.cache_misses == misses
