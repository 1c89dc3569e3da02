"""Approval panels: what a payment needs before its money moves, asked of
policies/approvals.polar. Python gathers the tiers (the bank's minimums and the tenant's rules,
core.models.payments.ApprovalRule rows) and counts the approvals given; the policy says which
tiers apply, what the panel asks, and when it is satisfied."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from oso import Variable

from core.models.payments import ApprovalRule, Payment, PaymentApproval
from core.policy import engine as policy_engine
from core.policy.shaping import Approval, optional


@dataclass(frozen=True)
class Panel:
    """How many approvals a payment needs, and how many of them from signature group A."""

    approvals: int
    group_a: int


@dataclass(frozen=True)
class Progress:
    """What a waiting payment still needs, given the approvals counted so far."""

    still_needed: int
    still_needed_a: int

    @property
    def satisfied(self) -> bool:
        return is_satisfied(self)

    def facts(self) -> dict[str, int]:
        return {"still_needed": self.still_needed, "still_needed_a": self.still_needed_a}


def tier_facts(rule: ApprovalRule) -> dict[str, Any]:
    return {
        "currency": rule.currency,
        "min_amount": rule.min_amount,
        "kind": rule.kind,
        "account": optional(rule.account_id, "id"),
        "approvals": rule.approvals,
        "group_a": rule.group_a,
    }


def panel_for(
    rules: Iterable[ApprovalRule],
    *,
    currency: str,
    amount: int,
    kind: str,
    account_id: int,
    new_beneficiary: bool,
    engine: policy_engine.PolicyEngine | None = None,
) -> Panel:
    """The panel a new payment gets (approvals.polar: panel/4), asked of `engine` (the
    process's current one unless given: a company's payment asks its company's, policy
    cases the one they test)."""
    payment = {
        "currency": currency,
        "amount": amount,
        "kind": kind,
        "account": account_id,
        "new_beneficiary": new_beneficiary,
    }
    return _ask("panel", payment, rules, engine)


def batch_panel_for(
    rules: Iterable[ApprovalRule],
    *,
    currency: str,
    total: int,
    kinds: Iterable[str],
    account_id: int,
    new_beneficiary: bool,
    engine: policy_engine.PolicyEngine | None = None,
) -> Panel:
    """The panel a payment batch gets (approvals.polar: batch_panel/4): the most the tiers
    ask of its total for each kind of payment it holds. `engine` as for panel_for."""
    batch = {
        "currency": currency,
        "amount": total,
        "kinds": sorted(set(kinds)),
        "account": account_id,
        "new_beneficiary": new_beneficiary,
    }
    return _ask("batch_panel", batch, rules, engine)


def _ask(
    rule: str,
    facts: dict[str, Any],
    rules: Iterable[ApprovalRule],
    engine: policy_engine.PolicyEngine | None,
) -> Panel:
    """The first answer of `rule`(facts, tiers, approvals, group_a)."""
    tiers = [tier_facts(tier) for tier in rules]
    answers = (engine or policy_engine.current()).query(
        rule, facts, tiers, Variable("approvals"), Variable("group_a")
    )
    if not answers:
        raise policy_engine.PolicyError(f"{rule}/4 gave no answer")
    return Panel(int(answers[0]["approvals"]), int(answers[0]["group_a"]))


def progress(panel: Panel, groups: Sequence[str | None]) -> Progress:
    """What is still needed after the approvals given, each by its approver's group. Every
    approval counted fills a place (the policy refuses one that does not:
    approval_group_not_needed), so the counts only go down."""
    from_a = sum(1 for group in groups if group == "A")
    return Progress(
        still_needed=max(panel.approvals - len(groups), 0),
        still_needed_a=max(panel.group_a - from_a, 0),
    )


def is_satisfied(progress: Progress, engine: policy_engine.PolicyEngine | None = None) -> bool:
    """Nothing more is needed: the payment's money moves (approvals.polar: satisfied/1)."""
    return (engine or policy_engine.current()).holds("satisfied", progress.facts())


def describe_needed(progress: Progress) -> str:
    """ "1 more approval from group A", "2 more approvals, 1 of them from group A"."""
    more, more_a = progress.still_needed, progress.still_needed_a
    if more == 0:
        return "no more approvals"
    noun = "approval" if more == 1 else "approvals"
    if more_a == 0:
        return f"{more} more {noun}"
    if more_a == more:
        return f"{more} more {noun} from group A"
    return f"{more} more {noun}, {more_a} of them from group A"


def approval_of(payment: Payment, approvals: Sequence[PaymentApproval]) -> Approval:
    """The payment as an approval decision reads it (decide.polar: request.payment): who
    prepared it, its stored status, who approved it so far, what its panel still needs."""
    panel = Panel(payment.required_approvals, payment.required_group_a)
    left = progress(panel, [a.approval_group for a in approvals])
    assert payment.expires_at is not None or payment.status != "pending_approval"
    return Approval(
        initiator_id=payment.initiated_by_id,
        status=payment.status,
        approver_ids=tuple(a.approver_id for a in approvals),
        still_needed=left.still_needed,
        still_needed_a=left.still_needed_a,
        expires_at=payment.expires_at or payment.created_at,
        amount=payment.amount,
        currency=payment.currency,
    )


def is_about_a_payment(action: str, engine: policy_engine.PolicyEngine | None = None) -> bool:
    """Whether `action` is about a waiting payment (approve, reject, cancel): its conditions
    ask that the payment waits, so its decision reads request.payment."""
    answers = (engine or policy_engine.current()).query("conditions", action, Variable("names"))
    return any("payment_not_pending" in answer["names"] for answer in answers)
