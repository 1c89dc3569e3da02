"""Gathering facts for the policy. Nothing here decides: it reads the grants that reach a
resource, the caps, today's totals and the tenant's zone (core.policy.repository and
core.policy.spend: indexed queries) and shapes them as policies/decide.polar documents
(core.policy.shaping: no database). The names other modules use are all here."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from core.context import Actor
from core.policy import repository, spend
from core.policy.engine import PolicyEngine
from core.policy.repository import custom_permissions
from core.policy.shaping import (
    LIMIT_KINDS,
    PROPOSING_ACTIONS,
    STEP_UP,
    Approval,
    Facts,
    Gathered,
    Money,
    Proposal,
    Resource,
    carrying,
    has_cumulative_limit,
    role_facts,
    shape_request,
    tenant_day,
)

__all__ = [
    "LIMIT_KINDS",
    "Approval",
    "Facts",
    "Money",
    "Proposal",
    "Resource",
    "build_request",
    "custom_permissions",
    "role_facts",
]


def build_request(
    session: Session,
    engine: PolicyEngine,
    *,
    actor: Actor,
    action: str,
    resource: Resource,
    now: dt.datetime,
    money: Money | None = None,
    proposal: Proposal | None = None,
    tenant_zone: str | None = None,
    lock: bool = False,
    only_carrying: bool = True,
    memo: dict[Any, Any] | None = None,
    approval: Approval | None = None,
) -> Facts:
    """Gather everything decide/5 reads about this request, and shape it. Grants whose role
    does not carry the action cannot speak for it and are left out of the request decided,
    unless `only_carrying` is False (explain shows every grant that reaches the resource);
    the decision log keeps them all (Facts.recorded), for replays under another policy.
    `memo` (one per request) lets the several decisions of one request share the grants query
    and the tenant's zone. Money on a tenant's account counts in the tenant's zone: read here
    unless `tenant_zone` is given."""
    if money is not None and tenant_zone is None and resource.tenant_id is not None:
        tenant_zone = repository.tenant_zone(session, resource.tenant_id, memo)
    gathered = gather(
        session,
        engine,
        actor=actor,
        action=action,
        resource=resource,
        now=now,
        money=money,
        proposal=proposal,
        tenant_zone=tenant_zone,
        lock=lock,
        only_carrying=only_carrying,
        memo=memo,
    )
    if approval is not None and action == "payment.approve":
        _add_approved_today(session, gathered, actor, resource, approval, now, lock, memo)
    shaping: dict[str, Any] = {
        "actor": actor,
        "action": action,
        "resource": resource,
        "now": now,
        "money": money,
        "proposal": proposal,
        "tenant_zone": tenant_zone,
        "approval": approval,
    }
    facts = shape_request(gathered, **shaping)
    if gathered.reaching is not None:
        # Decided on the carrying grants alone (the compiled decision's cache key stays
        # theirs); recorded with them all, shaped only when the decision is logged.
        every = dataclasses.replace(gathered, pairs=gathered.reaching, reaching=None)
        facts.complete = lambda: shape_request(every, **shaping)
    return facts


def gather(
    session: Session,
    engine: PolicyEngine,
    *,
    actor: Actor,
    action: str,
    resource: Resource,
    now: dt.datetime,
    money: Money | None,
    proposal: Proposal | None,
    tenant_zone: str | None,
    lock: bool,
    only_carrying: bool,
    memo: dict[Any, Any] | None,
) -> Gathered:
    """What the database says about a request, each query once: the grants that reach the
    resource (with their custom permissions), the caps and today's totals for money, the caps
    for a proposal, the company's step-up rules for an action that checks them. With
    `only_carrying`, `pairs` keeps the grants whose role carries the action and `reaching` all
    of them, for the decision log: today's totals are read for every grant that has a
    cumulative limit, carrying or not (one query all the same)."""
    gathered = _reaching(session, actor, resource, memo)
    if only_carrying:
        carried = carrying(engine, gathered, action)
        if len(carried) != len(gathered.pairs):
            gathered.reaching, gathered.pairs = gathered.pairs, carried
    if money is not None:
        _add_money(session, gathered, actor, money, now, tenant_zone, lock, memo)
    if STEP_UP in engine.conditions_of(action):
        gathered.step_up = repository.step_up_of(session, actor, memo)
    if proposal is not None or action in PROPOSING_ACTIONS:
        currency = proposal.currency if proposal else ""
        gathered.proposal_caps = repository.caps_for(
            session, resource.bank_id, resource.tenant_id, currency
        )
    return gathered


def _add_money(
    session: Session,
    gathered: Gathered,
    actor: Actor,
    money: Money,
    now: dt.datetime,
    tenant_zone: str | None,
    lock: bool,
    memo: dict[Any, Any] | None = None,
) -> None:
    """The caps in the money's currency and, where a daily or monthly limit is set at some
    level, today's and this month's totals. There the person is locked first (`lock`), so
    concurrent transfers cannot jointly pass the limit. The caps are read once per request
    (`memo`: a payment batch decides many payments in one); the totals every time."""
    if not actor.is_staff:
        key = ("caps", actor.bank_id, actor.tenant_id, money.currency)
        caps = memo.get(key) if memo is not None else None
        if caps is None:
            caps = repository.caps_for(session, actor.bank_id, actor.tenant_id, money.currency)
            if memo is not None:
                memo[key] = caps
        gathered.caps = caps
    cumulative = [
        g.id
        for g, r in gathered.all_pairs
        if g.id is not None and has_cumulative_limit(g, r, gathered.caps, money.currency)
    ]
    if not cumulative:
        return
    # Only a carrying grant's limit is decided on now: the others' totals are for the log.
    if lock and any(
        has_cumulative_limit(g, r, gathered.caps, money.currency) for g, r in gathered.pairs
    ):
        spend.lock_person(session, actor.user_id)
    today, month_start = tenant_day(now, tenant_zone or "UTC")
    gathered.spend, gathered.person_spend = spend.totals(
        session,
        grant_ids=cumulative,
        user_id=actor.user_id,
        currency=money.currency,
        today=today,
        month_start=month_start,
    )


def _add_approved_today(
    session: Session,
    gathered: Gathered,
    actor: Actor,
    resource: Resource,
    approval: Approval,
    now: dt.datetime,
    lock: bool,
    memo: dict[Any, Any] | None,
) -> None:
    """What the person approved today, read only when a grant of theirs sets a daily approval
    limit. There the person is locked first (`lock`: after the payment and its accounts, as a
    payer is), so that two approvals of theirs at once cannot jointly pass the limit."""
    if resource.tenant_id is None or not any(
        g.approval_daily_limit is not None for g, _ in gathered.all_pairs
    ):
        return
    key = ("approved_today", actor.user_id, approval.currency)
    if lock:
        # Read afresh once the person is locked: what a memo holds may predate the lock.
        spend.lock_person(session, actor.user_id)
    elif memo is not None and key in memo:
        gathered.approved_today = int(memo[key])  # the inbox asks of many payments at once
        return
    zone = repository.tenant_zone(session, resource.tenant_id, memo)
    gathered.approved_today = repository.approved_today(
        session, actor.user_id, approval.currency, now, zone
    )
    if memo is not None and not lock:
        memo[key] = gathered.approved_today


def _reaching(
    session: Session, actor: Actor, resource: Resource, memo: dict[Any, Any] | None
) -> Gathered:
    """The actor's grants that reach the resource, with their custom roles' permissions: read
    once per request (`memo`), whatever the number of decisions."""
    key = ("grants", actor.user_id, resource.type, resource.id if resource.type == "account" else 0)
    cached = memo.get(key) if memo is not None else None
    if cached is None:
        if resource.type == "account" and resource.id is not None:
            pairs = repository.grants_over_account(session, actor.user_id, resource.id)
        else:
            pairs = repository.grants_of_user(session, actor.user_id)
        cached = (pairs, repository.custom_permissions(session, (r for _, r in pairs)))
        if memo is not None:
            memo[key] = cached
    return Gathered(pairs=list(cached[0]), permissions=cached[1])
