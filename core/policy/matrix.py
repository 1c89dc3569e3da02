"""The action x condition matrix of the loaded policy: for every action of the vocabulary,
which checks its decision makes, in the order a refusal reports them.

Read from the policy itself, never written by hand: the actions are vocabulary.polar's
action/1, the checks and their words its condition_text/2, and what a grant must meet for
each action decide.polar's conditions/2. decide.polar asks, in order: is the resource within
reach (not_found), may money go to the other account (counterparty_not_found, for the
actions that move money), does a grant carry the action (missing_permission), and then the
action's conditions. Own actions (self.read) need no grant and check none of these; an action
that is both an own action and a permission (payment.cancel: whoever prepared the payment, or
a holder of the permission) checks these for the holders. An action that goes with a
permission (payment.reject, with payment.approve) is described by that permission."""

from __future__ import annotations

from dataclasses import dataclass

from oso import Variable

from core.policy import engine as policy_engine
from core.policy.engine import PolicyEngine
from core.policy.reasons import Reason


@dataclass(frozen=True)
class Check:
    """A column: one check, named by the refusal it gives, and its words."""

    reason: str
    text: str


@dataclass(frozen=True)
class ActionChecks:
    """A row: one action and the checks its decision makes, in order."""

    action: str
    meaning: str
    checks: tuple[str, ...]
    # An own action: everyone's, about themselves, with no grant (vocabulary.polar); when it
    # is a permission too, the checks are those a holder's grant meets.
    own: bool = False
    own_meaning: str = ""

    def position(self, reason: str) -> int | None:
        """Where the check comes in this action's order (1 for the first), None if not made."""
        return self.checks.index(reason) + 1 if reason in self.checks else None


@dataclass(frozen=True)
class ConditionMatrix:
    checks: list[Check]
    actions: list[ActionChecks]

    def row(self, action: str) -> ActionChecks:
        return next(a for a in self.actions if a.action == action)


def actions(engine: PolicyEngine | None = None) -> list[str]:
    """Every action Mandate asks the policy about (vocabulary.polar: action/1: the
    permissions, the own actions, the actions that go with a permission), once each, in the
    vocabulary's order: what a decision can be about, hence what the decision log's filter
    offers and accepts. The one list: nobody writes a second."""
    engine = engine or policy_engine.current()
    return list(dict.fromkeys(str(a["name"]) for a in engine.query("action", Variable("name"))))


def condition_texts(engine: PolicyEngine) -> dict[str, str]:
    """Each check's words, by its reason (vocabulary.polar: condition_text/2), in order."""
    answers = engine.query("condition_text", Variable("reason"), Variable("text"))
    return {str(a["reason"]): str(a["text"]) for a in answers}


def checks_of(engine: PolicyEngine, action: str) -> tuple[str, ...]:
    """The checks the policy makes for `action`, in order: for an own action that no grant
    carries, none."""
    own = engine.holds("own_action", action, Variable("meaning"))
    granted = engine.holds("permission", action, Variable("level"), Variable("meaning"))
    granted = granted or engine.holds("goes_with", action, Variable("permission"))
    if own and not granted:
        return ()
    before = [Reason.not_found.value]
    if engine.holds("moves_money", action):
        before.append(Reason.counterparty_not_found.value)
    before.append(Reason.missing_permission.value)
    # Last, once every other check passes: the company's own rules, where it may have some.
    after = [Reason.tenant_rule.value] if engine.holds("restrictable", action) else []
    return (*before, *engine.conditions_of(action), *after)


def condition_matrix(engine: PolicyEngine) -> ConditionMatrix:
    """The matrix of the loaded policy: every action (in the vocabulary's order) against every
    check (in condition_text's order)."""
    meanings = {
        str(a["name"]): str(a["meaning"])
        for a in engine.query(
            "permission", Variable("name"), Variable("level"), Variable("meaning")
        )
    }
    own = {
        str(a["name"]): str(a["meaning"])
        for a in engine.query("own_action", Variable("name"), Variable("meaning"))
    }
    for answer in engine.query("goes_with", Variable("name"), Variable("permission")):
        permission = str(answer["permission"])
        meanings.setdefault(
            str(answer["name"]), f"With {permission}: {meanings.get(permission, '')}".strip()
        )
    actions: list[ActionChecks] = []
    for answer in engine.query("action", Variable("name")):
        name = str(answer["name"])
        if any(a.action == name for a in actions):
            continue
        actions.append(
            ActionChecks(
                action=name,
                meaning=meanings.get(name, own.get(name, "")),
                checks=checks_of(engine, name),
                own=name in own,
                own_meaning=own.get(name, ""),
            )
        )
    checks = [Check(reason, text) for reason, text in condition_texts(engine).items()]
    return ConditionMatrix(checks=checks, actions=actions)
