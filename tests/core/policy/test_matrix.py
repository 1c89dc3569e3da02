"""The Policy page's action x condition matrix is the policy's: read from the loaded Polar
files, it names each check as the policy does, and it changes when the rules change."""

from __future__ import annotations

import shutil

import pytest
from oso import Variable

from core.errors import ERROR_CODES
from core.policy import engine as policy_engine
from core.policy.engine import PolicyEngine
from core.policy.matrix import condition_matrix
from core.policy.reasons import REASONS, Reason
from core.settings import REPO_ROOT

VALIDITY = ("grant_not_yet_valid", "grant_expired")
MONEY = (
    "not_found",
    "counterparty_not_found",
    "missing_permission",
    *VALIDITY,
    "outside_time_window",
    "limit_currency_mismatch",
    "limit_per_transfer",
    "limit_daily",
    "limit_monthly",
    "step_up_required",
)

# What a company may restrict further checks its own rules last (a tenant extension).
COMPANY = ("tenant_rule",)

# action -> the checks its decision makes, in order.
EXPECTED = [
    ("transfer.create", (*MONEY, *COMPANY)),
    ("deposit.create", MONEY),
    ("withdrawal.create", MONEY),
    (
        "grant.manage",
        (
            "not_found",
            "missing_permission",
            *VALIDITY,
            "self_change_forbidden",
            "role_not_assignable",
            "exceeds_cap",
        ),
    ),
    (
        "role.manage",
        ("not_found", "missing_permission", *VALIDITY, "self_change_forbidden", "exceeds_cap"),
    ),
    ("user.manage", ("not_found", "missing_permission", *VALIDITY, "self_change_forbidden")),
    ("account.read", ("not_found", "missing_permission", *VALIDITY)),
    ("policy.read", ("not_found", "missing_permission", *VALIDITY)),
    ("self.read", ()),
    ("payment.create", (*MONEY, *COMPANY)),
    (
        "payment.approve",
        (
            "not_found",
            "missing_permission",
            *VALIDITY,
            "payment_not_pending",
            "self_approval_forbidden",
            "already_approved",
            "approval_group_not_needed",
            "limit_currency_mismatch",
            "approval_limit_exceeded",
            "approval_daily_limit_exceeded",
            "step_up_required",
            *COMPANY,
        ),
    ),
    (
        "payment.reject",
        (
            "not_found",
            "missing_permission",
            *VALIDITY,
            "payment_not_pending",
            "self_approval_forbidden",
            "limit_currency_mismatch",
            "approval_limit_exceeded",
        ),
    ),
    # A holder of payment.cancel meets these; whoever prepared the payment needs no grant.
    ("payment.cancel", ("not_found", "missing_permission", *VALIDITY, "payment_not_pending")),
    ("approval_rule.read", ("not_found", "missing_permission", *VALIDITY)),
    (
        "beneficiary.manage",
        ("not_found", "missing_permission", *VALIDITY, "step_up_required", *COMPANY),
    ),
    ("self.manage", ()),
]
OWN_ACTIONS = {"self.read", "payment.cancel", "self.manage"}


def test_step_up_is_the_last_condition_wherever_it_is_checked():
    """Whoever a step-up refuses met every other condition of the platform's
    (core.policy.service.Verdict.possible offers them the action, and the console asks for the
    code): it comes last, but for the company's own rules, asked only once the platform allows."""
    matrix = condition_matrix(policy_engine.current())
    asking = [row for row in matrix.actions if "step_up_required" in row.checks]
    assert {row.action for row in asking} >= {
        "payment.approve",
        "change_request.approve",
        "beneficiary.manage",
        "transfer.create",
        "payment.create",
    }
    for row in asking:
        platform = [c for c in row.checks if c != "tenant_rule"]
        assert platform[-1] == "step_up_required", row.action


@pytest.mark.parametrize("action,checks", EXPECTED, ids=[a for a, _ in EXPECTED])
def test_the_matrix_lists_what_each_action_checks(action, checks):
    row = condition_matrix(policy_engine.current()).row(action)
    assert row.checks == checks
    assert [row.position(c) for c in checks] == list(range(1, len(checks) + 1))
    assert row.own == (action in OWN_ACTIONS)
    assert bool(row.own_meaning) == row.own
    assert row.meaning, action


def test_every_action_of_the_vocabulary_has_a_row_and_every_check_a_column():
    engine = policy_engine.current()
    matrix = condition_matrix(engine)
    actions = {str(a["name"]) for a in engine.query("action", Variable("name"))}
    assert [a.action for a in matrix.actions] == list(
        dict.fromkeys(a.action for a in matrix.actions)
    )
    assert {a.action for a in matrix.actions} == actions
    # One name per check: each column is a refusal reason, and every reason has a column.
    assert [c.reason for c in matrix.checks] == [r.value for r in Reason]
    assert set(REASONS) == {c.reason for c in matrix.checks}
    assert set(REASONS) & (set(ERROR_CODES) - {"not_found"}) == set()
    for row in matrix.actions:
        assert set(row.checks) <= set(REASONS), row
    # Every reason is a check some action makes; scope_missing, decide.polar's first rule,
    # is made of every action an API client's token asks, before the action's own rules.
    assert {c for row in matrix.actions for c in row.checks} == set(REASONS) - {"scope_missing"}


def test_the_matrix_follows_the_rules_it_is_read_from(tmp_path):
    """A condition added to an action's rule shows in that action's row, in its place."""
    altered = tmp_path / "policies"
    shutil.copytree(REPO_ROOT / "policies", altered)
    decide = altered / "decide.polar"
    text = decide.read_text()
    rule = 'conditions("user.manage", ["grant_not_yet_valid", "grant_expired", "self_change_forbidden"]);'
    assert rule in text
    decide.write_text(
        text.replace(
            rule,
            'conditions("user.manage", ["grant_not_yet_valid", "grant_expired", '
            '"outside_time_window", "self_change_forbidden"]);',
        )
    )
    before = condition_matrix(policy_engine.current()).row("user.manage")
    after = condition_matrix(PolicyEngine.from_dir(altered)).row("user.manage")
    assert "outside_time_window" not in before.checks
    assert after.checks == (
        "not_found",
        "missing_permission",
        *VALIDITY,
        "outside_time_window",
        "self_change_forbidden",
    )
    assert after.position("self_change_forbidden") == before.position("self_change_forbidden") + 1
