"""Why may (or may not) a person do something? The decision, every grant considered, and
each condition that passed or failed; and, for the console, everything a person can do now."""

from __future__ import annotations

import datetime as dt
from typing import Any

from oso import Variable
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import Actor, RequestContext
from core.errors import InvalidRequest, NotFound
from core.models.iam import Role, User, actor_of
from core.models.ledger import Account
from core.models.payments import Payment
from core.money import format_amount
from core.policy import engine as policy_engine
from core.policy import registry
from core.policy.engine import fill
from core.policy.explain_payment import PaymentStanding, payment_subject, standing
from core.policy.facts import LIMIT_KINDS, Approval, Facts, Money, Resource, build_request
from core.policy.panels import is_about_a_payment
from core.policy.reasons import LIMIT_CONDITIONS, Reason, describe_condition, status_of
from core.policy.service import authorize, explain_refusal, require_readable

# The explain API's name for each check, kept as clients know it; the policy, the decision
# log and the console name each check by its reason.
API_NAMES: dict[Reason, str] = {
    Reason.not_found: "visible",
    Reason.counterparty_not_found: "counterparty",
    Reason.missing_permission: "permission",
    Reason.grant_not_yet_valid: "valid_from",
    Reason.grant_expired: "valid_until",
    Reason.outside_time_window: "time_window",
    Reason.limit_currency_mismatch: "limit_currency",
    Reason.limit_per_transfer: "per_transfer_limit",
    Reason.limit_daily: "daily_limit",
    Reason.limit_monthly: "monthly_limit",
    Reason.self_change_forbidden: "not_own_access",
    Reason.role_not_assignable: "role_assignable",
    Reason.exceeds_cap: "within_caps",
    Reason.payment_not_pending: "payment_pending",
    Reason.self_approval_forbidden: "not_own_payment",
    Reason.already_approved: "not_approved_already",
    Reason.approval_group_not_needed: "approval_group",
    Reason.approval_limit_exceeded: "approval_limit",
    Reason.approval_daily_limit_exceeded: "approval_daily_limit",
    Reason.change_request_not_pending: "change_request_pending",
    Reason.peer_required: "peer",
    Reason.own_change_request: "not_own_change_request",
    Reason.change_grants_approver_rights: "no_rights_for_approver",
    Reason.approver_tied_to_requester: "not_tied_to_requester",
    Reason.grantee_tied_to_approver: "no_rights_for_tied_user",
    Reason.tenant_rule: "company_rules",
    Reason.step_up_required: "step_up",
    Reason.scope_missing: "scope",
}


class ConditionResult(BaseModel):
    # The name API clients have always keyed on ("daily_limit"); `reason` is the policy's
    # name for the same check, the refusal it gives ("limit_daily").
    name: str
    reason: str = ""
    passed: bool
    detail: dict[str, Any] = {}
    # The condition and how the request fares, in words ("Allowed Mon-Fri 09:00-17:00
    # Europe/Berlin; it is Wed 10:00 there."), beside the raw data.
    text: str = ""


class EffectiveLimit(BaseModel):
    kind: str
    amount: int
    set_by: str
    # Whose total it counts: "transfer" (each transfer), "grant" (sent under this grant) or
    # "person" (sent by the person under all their grants: the company's and bank's caps).
    per: str = "transfer"
    remaining: int | None = None
    text: str


class GrantExplanation(BaseModel):
    grant_id: int
    role: str
    conditions: list[ConditionResult]
    effective_limits: list[EffectiveLimit] = []
    allows: bool


class Explanation(BaseModel):
    decision: str
    reason: str
    message: str
    status: int
    policy_version: str
    at: dt.datetime
    checks: list[ConditionResult]
    grants: list[GrantExplanation]
    # Only for an action about a payment (payment.approve, payment.reject, payment.cancel).
    payment: PaymentStanding | None = None


def _target_actor(session: Session, ctx: RequestContext, user_id: int) -> tuple[User, Actor]:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    # Like every guard: a person one may not read is not there (404), whatever else one may do.
    missing = f"user {user_id} not found"
    require_readable(session, ctx, "user.read", Resource.of_user(user), not_found=missing)
    authorize(session, ctx, "authz.explain", Resource.of_user(user), not_found=missing)
    # How the person authenticated is known only of the one asking: of anyone else, a
    # step-up is explained as asked of them (they give the code when they act).
    asking = ctx.require_actor()
    return user, asking if asking.user_id == user.id else actor_of(user)


def explainable_actions(engine: policy_engine.PolicyEngine | None = None) -> list[str]:
    """What explain answers for: every permission, and every action that goes with one
    (payment.reject, with payment.approve), in the vocabulary's order."""
    engine = engine or policy_engine.current()
    names = [str(a["name"]) for a in engine.query("action", Variable("name"))]
    return [
        name
        for name in dict.fromkeys(names)
        if engine.holds("permission", name, Variable("level"), Variable("text"))
        or engine.holds("goes_with", name, Variable("permission"))
    ]


def explain(
    session: Session,
    ctx: RequestContext,
    *,
    user_id: int,
    action: str,
    account_id: int | None = None,
    amount: int | None = None,
    at: dt.datetime | None = None,
    to_account_id: int | None = None,
    payment_id: int | None = None,
) -> Explanation:
    """What the policy answers for `user_id` doing `action` (on `account_id`, for `amount`, at
    `at`; or about the payment `payment_id`: approving, rejecting or cancelling it), and why.
    Changes nothing."""
    engine = policy_engine.current()
    if action not in explainable_actions(engine):
        raise InvalidRequest(
            f"{action!r} is not an action (see GET /v1/permissions)", code="unknown_action"
        )
    user, actor = _target_actor(session, ctx, user_id)
    when = at or ctx.now()
    payment: Payment | None = None
    approval: Approval | None = None
    money: Money | None = None
    if payment_id is not None or is_about_a_payment(action, engine):
        resource, payment, approval = payment_subject(
            session, ctx, user, action, payment_id, account_id, amount, to_account_id
        )
    else:
        resource, money = _subject(session, ctx, user, action, account_id, amount, to_account_id)
    # As the decision would be made: under the resource's tenant's own policy.
    engine = registry.for_tenant(resource.tenant_id)
    facts = build_request(
        session,
        engine,
        actor=actor,
        action=action,
        resource=resource,
        now=when,
        money=money,
        only_carrying=False,
        approval=approval,
    )
    decision = engine.decide(facts.request, facts.values)
    filled = fill(facts.request, facts.values)
    message = (
        "Allowed." if decision.allowed else explain_refusal(decision, facts, action, money, engine)
    )
    grants = [_explain_grant(engine, g, filled, facts, action) for g in filled["grants"]]
    return Explanation(
        decision=decision.outcome,
        reason=decision.reason,
        message=message,
        status=200 if decision.allowed else status_of(decision.reason),
        policy_version=decision.policy_version,
        at=when,
        checks=_checks_before_grants(engine, action, filled),
        grants=grants,
        payment=(
            standing(payment, approval, user, action, when)
            if payment is not None and approval is not None
            else None
        ),
    )


def _checks_before_grants(
    engine: policy_engine.PolicyEngine, action: str, filled: dict[str, Any]
) -> list[ConditionResult]:
    """What decide.polar checks before any grant: the resource within reach, and for money
    the other account."""
    visible = engine.holds("visible", filled["actor"], filled["resource"])
    checks = [_condition(Reason.not_found, visible, {}, filled)]
    if engine.holds("moves_money", action):
        allowed = engine.holds("counterparty_allowed", filled)
        checks.append(_condition(Reason.counterparty_not_found, allowed, {}, filled))
    return checks


def _reachable_account(session: Session, ctx: RequestContext, account_id: int) -> Account:
    """An account the caller may explain decisions about; any other answers exactly as an
    account that does not exist (the policy decides what the caller reaches)."""
    missing = f"account {account_id} not found"
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(missing)
    require_readable(session, ctx, "authz.explain", Resource.of_account(account), not_found=missing)
    return account


def _subject(
    session: Session,
    ctx: RequestContext,
    user: User,
    action: str,
    account_id: int | None,
    amount: int | None,
    to_account_id: int | None,
) -> tuple[Resource, Money | None]:
    engine = policy_engine.current()
    moves_money = engine.holds("moves_money", action)
    if account_id is None:
        if moves_money:
            raise InvalidRequest("a money-moving action needs an account", code="invalid_request")
        if user.tenant_id is None:
            return Resource.of_bank(user.bank_id), None
        return Resource.of_tenant(user.tenant_id, user.bank_id), None
    account = _reachable_account(session, ctx, account_id)
    if account.bank_id != user.bank_id:
        raise NotFound(f"account {account_id} not found")
    resource = Resource.of_account(account)
    if not moves_money:
        return resource, None
    if amount is None:
        raise InvalidRequest("a money-moving action needs an amount", code="invalid_amount")
    if to_account_id is not None:
        counterparty = _reachable_account(session, ctx, to_account_id)
        if counterparty.bank_id != user.bank_id:
            raise NotFound(f"account {to_account_id} not found")
    elif action == "transfer.create":
        # Hypothetically, another account of the same company.
        counterparty = Account(
            bank_id=account.bank_id,
            tenant_id=account.tenant_id,
            name="",
            currency=account.currency,
            kind="customer",
        )
    else:
        counterparty = session.scalar(
            select(Account).where(
                col(Account.bank_id) == account.bank_id,
                col(Account.kind) == "clearing",
                col(Account.currency) == account.currency,
            )
        ) or Account(bank_id=account.bank_id, name="", currency=account.currency, kind="clearing")
    return resource, Money(amount=amount, currency=account.currency, counterparty=counterparty)


def _condition(
    name: Reason,
    passed: bool,
    detail: dict[str, Any],
    filled: dict[str, Any],
    grant: dict[str, Any] | None = None,
    *,
    meaning: str = "",
    cap: dict[str, Any] | None = None,
) -> ConditionResult:
    text = describe_condition(
        name, passed, detail, request=filled, grant=grant, meaning=meaning, cap=cap
    )
    return ConditionResult(
        name=API_NAMES[name], reason=name, passed=passed, detail=detail, text=text
    )


def _effective_cap(
    engine: policy_engine.PolicyEngine, grant: dict[str, Any], kind: str | None
) -> dict[str, Any] | None:
    caps = grant["caps"].get(kind) if kind else None
    if not caps:
        return None
    answer = engine.query("effective_limit", caps, Variable("cap"))
    return dict(answer[0]["cap"]) if answer else None


def _explain_grant(
    engine: policy_engine.PolicyEngine,
    grant: dict[str, Any],
    filled: dict[str, Any],
    facts: Facts,
    action: str,
) -> GrantExplanation:
    meanings = engine.query("permission", action, Variable("level"), Variable("text"))
    meaning = str(meanings[0]["text"]) if meanings else ""
    carries = engine.holds("carries", grant, action)
    results = [_condition(Reason.missing_permission, carries, {}, filled, grant, meaning=meaning)]
    names = engine.query("conditions", action, Variable("names"))
    for name in [Reason[n] for n in (names[0]["names"] if names else [])]:
        passed = engine.holds("passes", name.value, grant, filled)
        detail: dict[str, Any] = {}
        if not passed:
            answers = engine.query("refuses", name.value, grant, filled, Variable("detail"))
            detail = (
                dict(answers[0]["detail"])
                if answers and isinstance(answers[0]["detail"], dict)
                else {}
            )
        cap = _effective_cap(engine, grant, LIMIT_CONDITIONS.get(name))
        results.append(_condition(name, passed, detail, filled, grant, cap=cap))
    limits = []
    totals = facts.spend.get(grant["id"])
    currency = filled.get("currency") or "EUR"
    for kind in LIMIT_KINDS:
        caps = grant["caps"].get(kind) or []
        if not caps:
            continue
        # Which levels count which total is the policy's (counts_per/2 in limits.polar).
        scopes: list[tuple[str, list[Any]]] = [("transfer", caps)]
        if kind != "per_transfer":
            scopes = []
            for per in ("grant", "person"):
                kept = engine.query("limits_per", caps, per, Variable("kept"))
                if kept and kept[0]["kept"]:
                    scopes.append((per, kept[0]["kept"]))
        for per, levels in scopes:
            answer = engine.query("effective_limit", levels, Variable("cap"))
            if not answer:
                continue
            cap = answer[0]["cap"]
            remaining = None
            spent_totals = facts.person_spend if per == "person" else totals
            if spent_totals is not None and per != "transfer":
                spent = spent_totals.spent_today if kind == "daily" else spent_totals.spent_month
                remaining = max(cap["amount"] - spent, 0)
            each = " for each person" if per == "person" else ""
            limits.append(
                EffectiveLimit(
                    kind=kind,
                    amount=cap["amount"],
                    set_by=cap["level"],
                    per=per,
                    remaining=remaining,
                    text=f"{kind.replace('_', '-')} {format_amount(cap['amount'], currency)}{each}",
                )
            )
    role = facts.roles.get(grant["id"])
    return GrantExplanation(
        grant_id=grant["id"],
        role=role.name if isinstance(role, Role) else grant["role"]["key"],
        conditions=results,
        effective_limits=limits,
        allows=all(r.passed for r in results),
    )


class AccountCapability(BaseModel):
    account_id: int
    account_name: str
    currency: str
    actions: dict[str, bool]
    limits: list[EffectiveLimit]
    refusals: dict[str, str]


def capabilities(
    session: Session, ctx: RequestContext, user_id: int, at: dt.datetime | None = None
) -> list[AccountCapability]:
    """For every account of the user's company: what the user may do with it now, the
    effective limits after the cascade, and what remains of them today and this month."""
    user, actor = _target_actor(session, ctx, user_id)
    engine = registry.for_tenant(user.tenant_id)
    when = at or ctx.now()
    if user.tenant_id is None:
        return []
    accounts = session.scalars(
        select(Account).where(col(Account.tenant_id) == user.tenant_id).order_by(col(Account.id))
    )
    # One gathering memo for the whole answer: every account and action shares the user's
    # grants query and the tenant's zone.
    memo: dict[Any, Any] = {}
    result = []
    for account in accounts:
        resource = Resource.of_account(account)
        actions: dict[str, bool] = {}
        refusals: dict[str, str] = {}
        limits: list[EffectiveLimit] = []
        for action in ("account.read", "statement.read", "transfer.create"):
            money = None
            if action == "transfer.create":
                counterparty = Account(
                    bank_id=account.bank_id,
                    tenant_id=account.tenant_id,
                    name="",
                    currency=account.currency,
                    kind="customer",
                )
                money = Money(amount=1, currency=account.currency, counterparty=counterparty)
            facts = build_request(
                session,
                engine,
                actor=actor,
                action=action,
                resource=resource,
                now=when,
                money=money,
                memo=memo,
            )
            decision = engine.decide(facts.request, facts.values)
            actions[action] = decision.allowed
            if not decision.allowed:
                refusals[action] = decision.reason
            if money is not None and facts.request["grants"]:
                filled = fill(facts.request, facts.values)
                chosen = next(
                    (g for g in filled["grants"] if g["id"] == decision.grant_id),
                    filled["grants"][0],
                )
                limits = _explain_grant(engine, chosen, filled, facts, action).effective_limits
        result.append(
            AccountCapability(
                account_id=account.id,
                account_name=account.name,
                currency=account.currency,
                actions=actions,
                limits=limits,
                refusals=refusals,
            )
        )
    return result
