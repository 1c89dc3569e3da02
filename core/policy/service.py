"""The one seam every route goes through: authorize(actor, action, resource).

It gathers facts, asks the policy, records the decision, and turns a refusal into the error
the caller sees: 404 when the resource is out of reach, 403 with the policy's reason
otherwise."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from oso import Variable
from sqlalchemy.orm import Session

from core import metrics
from core.context import Actor, RequestContext
from core.errors import Forbidden, NotFound, StepUpRequired
from core.models.audit import DecisionRecord
from core.models.iam import Tenant
from core.policy import engine as policy_engine
from core.policy import recorded, registry
from core.policy.engine import Decision, PolicyEngine
from core.policy.facts import Approval, Facts, Money, Proposal, Resource, build_request
from core.policy.reasons import Reason, describe, family, status_of
from core.policy.shaping import Grant

# Decisions on these actions (those that change money, access, a payment's course or the
# policy) are always logged; any refusal is logged too, and so is a person's allowed read of
# one account or its statement (check's `log_allowed`: once per request, action and resource;
# reads of lists are never logged per item). Each logged decision keeps the facts it was made
# on (core.policy.recorded), for replays. Every action can be logged, so the decision log's
# filter offers them all (core.policy.matrix.actions), not these.
LOGGED_ACTIONS = {
    "transfer.create",
    "deposit.create",
    "withdrawal.create",
    "user.manage",
    "role.manage",
    "grant.manage",
    "cap.manage",
    "account.manage",
    "tenant.manage",
    "payment.create",
    "payment.approve",
    "payment.reject",
    "payment.cancel",
    "beneficiary.manage",
    "beneficiary.approve",
    "approval_rule.manage",
    "approval_minimum.manage",
    "change_request.approve",
    "change_request.reject",
    "policy_version.propose",
    "policy_version.approve",
    "policy_version.reject",
    "policy_version.activate",
    "maintenance_window.manage",
    "self.manage",
}


@dataclass(frozen=True)
class Verdict:
    """A decision with the facts it was made on, and its explanation for a person."""

    decision: Decision
    facts: Facts
    message: str

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    @property
    def possible(self) -> bool:
        """Allowed, or refused only for want of a recent strong authentication: step-up is
        every action's last condition (decide.polar), so the grant met all the others, and
        the person may act once they give a code. What a face offers (a button, an inbox
        entry, a possible approver); the action itself asks again."""
        return self.decision.allowed or self.decision.reason == Reason.step_up_required

    @property
    def grant(self) -> Grant:
        """The grant the decision went through (an allowed or possible one names it)."""
        return next(g for g in self.facts.grants if g.id == self.decision.grant_id)


def check(
    session: Session,
    ctx: RequestContext,
    action: str,
    resource: Resource,
    *,
    actor: Actor | None = None,
    money: Money | None = None,
    proposal: Proposal | None = None,
    approval: Approval | None = None,
    lock: bool = False,
    record: bool = True,
    log_allowed: bool = False,
    at: dt.datetime | None = None,
    asked_by: int | None = None,
) -> Verdict:
    """Ask the policy; never raises for a refusal. The decision is logged (unless `record` is
    False) when its action is always logged, when it refuses, and when `log_allowed` asks for
    it and this request logged no decision on the same actor, action and resource yet.

    `at`: decide as at that instant (a question about another time, core.authzen); the log
    still says when it was decided. `asked_by`: the user who asked about `actor` (a decision
    service), kept in the log beside the actor decided about."""
    # The tenant's own policy (its pinned version, its extension) for its resources; the
    # bank's default for the bank's (core.policy.registry: a map in memory).
    engine = registry.for_tenant(resource.tenant_id)
    who = actor or ctx.require_actor()
    ctx.policy_queries += 1
    now = at or ctx.now()
    facts = build_request(
        session,
        engine,
        actor=who,
        action=action,
        resource=resource,
        now=now,
        money=money,
        proposal=proposal,
        lock=lock,
        memo=ctx.policy_memo,
        approval=approval,
    )
    decision = engine.decide(facts.request, facts.values)
    _count(action, decision)
    message = "" if decision.allowed else explain_refusal(decision, facts, action, money, engine)
    if record and (
        action in LOGGED_ACTIONS
        or not decision.allowed
        or (log_allowed and not _logged_already(ctx, who, action, resource))
    ):
        request_json, values_json = recorded.encode(*facts.recorded())
        ctx.audit.decisions.append(
            DecisionRecord(
                at=ctx.now(),
                actor_id=who.user_id,
                asked_by_id=asked_by,
                bank_id=who.bank_id,
                tenant_id=resource.tenant_id if resource.tenant_id else who.tenant_id,
                action=action,
                resource_type=resource.type,
                resource_id=resource.id,
                account_id=resource.id if resource.type == "account" else None,
                amount=money.amount if money else (approval.amount if approval else None),
                currency=money.currency if money else (approval.currency if approval else None),
                decision=decision.outcome,
                reason=decision.reason,
                grant_id=decision.grant_id,
                detail=message[:500],
                policy_version=decision.policy_version,
                extension_version=decision.extension_version,
                eval_us=round(decision.elapsed_us),
                facts=request_json,
                fact_values=values_json,
            )
        )
    return Verdict(decision, facts, message)


def _count(action: str, decision: Decision) -> None:
    """The decision in the operators' metrics: by its reason's family, never a company's own
    rule name (core.metrics)."""
    reason = "none" if decision.allowed or not decision.reason else family(decision.reason)
    metrics.DECISIONS.labels(action, decision.outcome, reason).inc()
    metrics.DECISION_SECONDS.observe(decision.elapsed_us / 1_000_000)


def _logged_already(ctx: RequestContext, who: Actor, action: str, resource: Resource) -> bool:
    return any(
        d.actor_id == who.user_id
        and d.action == action
        and d.resource_type == resource.type
        and d.resource_id == resource.id
        for d in ctx.audit.decisions
    )


def authorize(
    session: Session,
    ctx: RequestContext,
    action: str,
    resource: Resource,
    *,
    not_found: str | None = None,
    money: Money | None = None,
    proposal: Proposal | None = None,
    lock: bool = False,
) -> Decision:
    """Ask the policy and raise if it refuses: NotFound (with `not_found` as the message) when
    the resource is out of reach, Forbidden carrying the policy's reason otherwise."""
    verdict = permit(
        session,
        ctx,
        action,
        resource,
        not_found=not_found,
        money=money,
        proposal=proposal,
        lock=lock,
    )
    return verdict.decision


def permit(
    session: Session,
    ctx: RequestContext,
    action: str,
    resource: Resource,
    *,
    not_found: str | None = None,
    money: Money | None = None,
    proposal: Proposal | None = None,
    approval: Approval | None = None,
    lock: bool = False,
) -> Verdict:
    """As authorize, and answer the verdict: the decision with the facts it was made on (for
    money, the grant it went through and the tenant-local day it counts on)."""
    verdict = check(
        session,
        ctx,
        action,
        resource,
        money=money,
        proposal=proposal,
        approval=approval,
        lock=lock,
    )
    if verdict.allowed:
        return verdict
    reason = verdict.decision.reason
    if status_of(reason) == 404:
        raise NotFound(not_found or f"{resource.type} {resource.id} not found")
    if status_of(reason) == 401:
        # A refusal the person lifts by authenticating again: how recently, for the challenge.
        detail = dict(verdict.decision.detail)
        raise StepUpRequired(
            verdict.message, code=reason, max_age=int(detail.get("max_age", 0)), refusal=detail
        )
    # The refusal's detail goes along as data (which limit, which cap), so nobody needs to
    # read it back out of the message.
    raise Forbidden(verdict.message, code=reason, refusal=dict(verdict.decision.detail))


def require_readable(
    session: Session,
    ctx: RequestContext,
    action: str,
    resource: Resource,
    *,
    not_found: str,
    log_allowed: bool = False,
) -> Decision:
    """For reads: anything the policy refuses is simply not there. `log_allowed`: log the
    decision even when it allows (see check)."""
    verdict = check(session, ctx, action, resource, log_allowed=log_allowed)
    if not verdict.allowed:
        raise NotFound(not_found)
    return verdict.decision


def tenant_within_reach(session: Session, ctx: RequestContext, tenant_id: int) -> Tenant:
    """A customer the caller may read (tenant.read: bank staff, their bank's); another bank's,
    or none, is not found, after the same decision (a missing id answers as a foreign one)."""
    tenant = session.get(Tenant, tenant_id)
    missing = f"tenant {tenant_id} not found"
    bank_id = tenant.bank_id if tenant is not None else ctx.require_actor().bank_id
    require_readable(
        session, ctx, "tenant.read", Resource.of_tenant(tenant_id, bank_id), not_found=missing
    )
    if tenant is None:
        raise NotFound(missing)
    return tenant


def explain_refusal(
    decision: Decision,
    facts: Facts,
    action: str,
    money: Money | None,
    engine: PolicyEngine | None = None,
) -> str:
    spent_today = spent_month = None
    local_time = None
    limit_currency = None
    if decision.grant_id is not None:
        totals = facts.spend.get(decision.grant_id)
        if totals is not None:
            spent_today, spent_month = totals.spent_today, totals.spent_month
        local_time = facts.local_times.get(decision.grant_id)
        for grant in facts.grants:
            if grant.id == decision.grant_id:
                role = facts.roles.get(grant.id)
                limit_currency = grant.limit_currency or (role.limit_currency if role else None)
    # An approval's amount and currency are the payment's (core.policy.shaping: approval).
    payment = facts.request.get("payment")
    amount = money.amount if money else facts.values.get("amount") if payment else None
    if decision.reason == "approval_daily_limit_exceeded" and isinstance(amount, int):
        spent_today = int(facts.values.get("approver.day_total", amount)) - amount
    currency = money.currency if money else facts.request.get("currency") if payment else None
    return describe(
        decision.reason,
        dict(decision.detail),
        action=action,
        amount=amount,
        currency=currency or _proposal_currency(facts),
        payment=payment if isinstance(payment, dict) else None,
        spent_today=spent_today,
        spent_month=spent_month,
        person_spent_today=facts.person_spend.spent_today,
        person_spent_month=facts.person_spend.spent_month,
        local_time=local_time,
        limit_currency=limit_currency,
        refusal_text=(
            _refusal_text(engine or policy_engine.current(), action)
            if decision.reason == Reason.missing_permission
            else None
        ),
    )


# The policy's words for lacking an action, per (policy version, action): asked once each.
_REFUSAL_TEXTS: dict[tuple[str, str], str | None] = {}


def _refusal_text(engine: PolicyEngine, action: str) -> str | None:
    """The words of `engine`'s policy (the default's, or a pinned tenant's version's)."""
    key = (engine.version, action)
    if key not in _REFUSAL_TEXTS:
        answers = engine.query("refusal_text", action, Variable("text"))
        _REFUSAL_TEXTS[key] = str(answers[0]["text"]) if answers else None
    return _REFUSAL_TEXTS[key]


def _proposal_currency(facts: Facts) -> str | None:
    proposal: Any = facts.request.get("proposal")
    return proposal.get("currency") if isinstance(proposal, dict) else None
