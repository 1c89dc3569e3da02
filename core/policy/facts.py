"""Gathering facts for the policy. Nothing here decides: it finds the grants that reach a
resource (indexed queries), the caps, today's totals and the local time, and shapes them
as policies/decide.polar documents them, with no placeholder values: what may be
absent is {"set": False} or {"set": True, ...}, and bank-level things say level "bank"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, or_, select, union
from sqlalchemy.orm import Session
from sqlmodel import col

from core.context import Actor
from core.models.iam import (
    Grant,
    GrantAccount,
    GrantSpend,
    LimitCap,
    PersonSpend,
    Role,
    RolePermission,
    Tenant,
    User,
)
from core.models.ledger import Account
from core.policy.engine import Dynamic, PolicyEngine

LIMIT_KINDS = ("per_transfer", "daily", "monthly")


def actor_facts(actor: Actor) -> dict[str, Any]:
    facts: dict[str, Any] = {"id": actor.user_id, "kind": actor.kind, "bank": actor.bank_id}
    # Staff act for their bank: they have no tenant, and the facts say so by leaving it out.
    if actor.tenant_id is not None:
        facts["tenant"] = actor.tenant_id
    return facts


def tenancy_facts(tenant_id: int | None, bank_id: int) -> dict[str, Any]:
    """Where something belongs: one tenant's ("level": "tenant"), or the bank's own."""
    if tenant_id is None:
        return {"level": "bank", "bank": bank_id}
    return {"level": "tenant", "tenant": tenant_id, "bank": bank_id}


def optional(value: Any, key: str) -> dict[str, Any]:
    """A fact that may be absent, in a shape Polar reads without placeholders:
    {"set": False}, or {"set": True, key: value}."""
    return {"set": False} if value is None else {"set": True, key: value}


@dataclass(frozen=True)
class Resource:
    """What a decision is about. `facts` holds only what the policy reads."""

    type: str
    id: int | None
    tenant_id: int | None
    bank_id: int
    extra: tuple[tuple[str, Any], ...] = ()
    account: Account | None = None

    @property
    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"type": self.type, **tenancy_facts(self.tenant_id, self.bank_id)}
        # An account's own id is not a fact the policy uses: leaving it out lets every account
        # reached by the same grants share one compiled decision.
        if self.type != "account" and self.id is not None:
            facts["id"] = self.id
        facts.update(self.extra)
        return facts

    @classmethod
    def of_account(cls, account: Account) -> Resource:
        return cls("account", account.id, account.tenant_id, account.bank_id, account=account)

    @classmethod
    def of_tenant(cls, tenant_id: int, bank_id: int) -> Resource:
        return cls("tenant", tenant_id, tenant_id, bank_id)

    @classmethod
    def of_bank(cls, bank_id: int) -> Resource:
        return cls("bank", bank_id, None, bank_id)

    @classmethod
    def of_user(cls, user: User) -> Resource:
        return cls("user", user.id, user.tenant_id, user.bank_id)


@dataclass(frozen=True)
class Money:
    """The money side of a money-moving request."""

    amount: int
    currency: str
    counterparty: Account


@dataclass(frozen=True)
class Proposal:
    """Limits someone asks to set on a grant or role, checked against the caps."""

    currency: str
    per_transfer: int | None = None
    daily: int | None = None
    monthly: int | None = None

    def as_facts(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "per_transfer": optional(self.per_transfer, "amount"),
            "daily": optional(self.daily, "amount"),
            "monthly": optional(self.monthly, "amount"),
        }


@dataclass
class GrantSpendTotals:
    """What was sent today and this month (tenant-local), in the request's currency: under
    one grant, or by one person under all their grants."""

    spent_today: int = 0
    spent_month: int = 0


@dataclass
class Facts:
    """Facts for one decision, and what is needed to explain and record it."""

    request: dict[str, Any]
    values: dict[str, Any]
    grants: list[Grant] = field(default_factory=list)
    roles: dict[int, Role] = field(default_factory=dict)
    spend: dict[int, GrantSpendTotals] = field(default_factory=dict)
    person_spend: GrantSpendTotals = field(default_factory=GrantSpendTotals)
    local_times: dict[int, dt.datetime] = field(default_factory=dict)


def _moment(value: dt.datetime | None) -> dict[str, Any]:
    return optional(None if value is None else int(value.timestamp()), "at")


# -- which grants reach a resource ----------------------------------------------------------


def _grants_over_account_statement() -> Any:
    user: BindParameter[int] = bindparam("user_id")
    account: BindParameter[int] = bindparam("account_id")
    every = select(col(Grant.id)).where(
        col(Grant.user_id) == user,
        col(Grant.all_accounts).is_(True),
        col(Grant.revoked_at).is_(None),
    )
    listed = (
        select(col(Grant.id))
        .join(GrantAccount, col(GrantAccount.grant_id) == col(Grant.id))
        .where(
            col(GrantAccount.account_id) == account,
            col(GrantAccount.user_id) == user,
            col(Grant.revoked_at).is_(None),
        )
    )
    ids = union(every, listed).subquery()
    return (
        select(Grant, Role)
        .join(Role, col(Role.id) == col(Grant.role_id))
        .where(col(Grant.id).in_(select(ids)))
        .order_by(col(Grant.id))
    )


# Built once: these run on every request, and building a statement costs more than running it.
_GRANTS_OVER_ACCOUNT = _grants_over_account_statement()
_GRANTS_OF_USER = (
    select(Grant, Role)
    .join(Role, col(Role.id) == col(Grant.role_id))
    .where(col(Grant.user_id) == bindparam("user_id"), col(Grant.revoked_at).is_(None))
    .order_by(col(Grant.id))
)


def grants_over_account(
    session: Session, user_id: int, account_id: int
) -> list[tuple[Grant, Role]]:
    """The user's live grants whose scope holds the account: the grants over all accounts,
    and the grants listing it. Two index lookups, whatever the number of grants."""
    rows = session.execute(_GRANTS_OVER_ACCOUNT, {"user_id": user_id, "account_id": account_id})
    return [(g, r) for g, r in rows]


def grants_of_user(session: Session, user_id: int) -> list[tuple[Grant, Role]]:
    return [(g, r) for g, r in session.execute(_GRANTS_OF_USER, {"user_id": user_id})]


def custom_permissions(session: Session, roles: Iterable[Role]) -> dict[int, list[str]]:
    ids = sorted({r.id for r in roles if not r.builtin and r.id is not None})
    result: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        rows = session.execute(
            select(col(RolePermission.role_id), col(RolePermission.permission))
            .where(col(RolePermission.role_id).in_(ids))
            .order_by(col(RolePermission.role_id), col(RolePermission.permission))
        )
        for role_id, permission in rows:
            result[role_id].append(permission)
    return result


def role_facts(role: Role, permissions: Sequence[str]) -> dict[str, Any]:
    return {
        "key": role.key if role.builtin else f"custom:{role.id}",
        "builtin": role.builtin,
        "level": role.level,
        "permissions": list(permissions),
        "limit_currency": optional(role.limit_currency or None, "currency"),
    }


# -- caps and totals ------------------------------------------------------------------------


_CAPS = select(LimitCap).where(
    col(LimitCap.bank_id) == bindparam("bank_id"),
    col(LimitCap.currency) == bindparam("currency"),
    or_(col(LimitCap.tenant_id).is_(None), col(LimitCap.tenant_id) == bindparam("tenant_id")),
)


def caps_for(
    session: Session, bank_id: int, tenant_id: int | None, currency: str
) -> dict[str, dict[str, int]]:
    """The bank's and the tenant's caps in one currency: {"tenant": {"daily": 500000}, ...}."""
    caps: dict[str, dict[str, int]] = {}
    rows = session.scalars(
        _CAPS, {"bank_id": bank_id, "currency": currency, "tenant_id": tenant_id or 0}
    )
    for cap in rows:
        level = "bank" if cap.tenant_id is None else "tenant"
        caps[level] = {
            kind: value
            for kind, value in (
                ("per_transfer", cap.per_transfer_limit),
                ("daily", cap.daily_limit),
                ("monthly", cap.monthly_limit),
            )
            if value is not None
        }
    return caps


def cap_entries(levels: Sequence[tuple[str, dict[str, int]]]) -> dict[str, list[dict[str, Any]]]:
    """Per limit kind, the limits set at each level, most specific level first."""
    return {
        kind: [
            {"kind": kind, "level": level, "amount": limits[kind]}
            for level, limits in levels
            if kind in limits
        ]
        for kind in LIMIT_KINDS
    }


def limits_of(obj: Grant | Role) -> dict[str, int]:
    return {
        kind: value
        for kind, value in (
            ("per_transfer", obj.per_transfer_limit),
            ("daily", obj.daily_limit),
            ("monthly", obj.monthly_limit),
        )
        if value is not None
    }


_TENANT_ZONE = select(col(Tenant.timezone)).where(col(Tenant.id) == bindparam("tenant_id"))


def tenant_zone(session: Session, tenant_id: int, memo: dict[Any, Any] | None = None) -> str:
    """The tenant's time zone: its days and months of cumulative limits count there. Read from
    the database, at most once per request (`memo`): no process keeps a zone that may have
    changed since, so every process counts the same day."""
    key = ("tenant_zone", tenant_id)
    if memo is not None and key in memo:
        return str(memo[key])
    zone = str(session.connection().scalar(_TENANT_ZONE, {"tenant_id": tenant_id}) or "UTC")
    if memo is not None:
        memo[key] = zone
    return zone


def tenant_day(now: dt.datetime, zone: str) -> tuple[dt.date, dt.date]:
    """Today and the first day of this month, in the tenant's zone."""
    local = now.astimezone(ZoneInfo(zone))
    return local.date(), local.date().replace(day=1)


_SPEND = select(col(GrantSpend.grant_id), col(GrantSpend.day), col(GrantSpend.amount)).where(
    col(GrantSpend.grant_id).in_(bindparam("grant_ids", expanding=True)),
    col(GrantSpend.currency) == bindparam("currency"),
    col(GrantSpend.day) >= bindparam("month_start"),
    col(GrantSpend.day) <= bindparam("today"),
)
_PERSON_SPEND = select(col(PersonSpend.day), col(PersonSpend.amount)).where(
    col(PersonSpend.user_id) == bindparam("user_id"),
    col(PersonSpend.currency) == bindparam("currency"),
    col(PersonSpend.day) >= bindparam("month_start"),
    col(PersonSpend.day) <= bindparam("today"),
)
_LOCK_PERSON = (
    select(col(User.id)).where(col(User.id) == bindparam("user_id")).with_for_update(key_share=True)
)


def spend_totals(
    session: Session,
    grant_ids: Sequence[int],
    currency: str,
    today: dt.date,
    month_start: dt.date,
) -> dict[int, GrantSpendTotals]:
    """What was sent under each grant today and this month, in `currency`."""
    totals = {gid: GrantSpendTotals() for gid in grant_ids}
    if not grant_ids:
        return totals
    rows = session.connection().execute(
        _SPEND,
        {
            "grant_ids": list(grant_ids),
            "currency": currency,
            "month_start": month_start,
            "today": today,
        },
    )
    for grant_id, day, amount in rows:
        totals[grant_id].spent_month += amount
        if day == today:
            totals[grant_id].spent_today += amount
    return totals


def person_totals(
    session: Session, user_id: int, currency: str, today: dt.date, month_start: dt.date
) -> GrantSpendTotals:
    """What the person sent under all their grants today and this month, in `currency`."""
    totals = GrantSpendTotals()
    rows = session.connection().execute(
        _PERSON_SPEND,
        {"user_id": user_id, "currency": currency, "month_start": month_start, "today": today},
    )
    for day, amount in rows:
        totals.spent_month += amount
        if day == today:
            totals.spent_today += amount
    return totals


def lock_person(session: Session, user_id: int) -> None:
    """Serialise the money movements of one person under cumulative limits, whichever grants
    they go through, so that concurrent transfers can never jointly pass a grant's limit nor
    the person's caps. Taken after the account locks (one row: no order to get wrong). Only
    the holder of a grant moves money under it, so this also covers each grant's total."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(_LOCK_PERSON, {"user_id": user_id}).all()


# -- the request ----------------------------------------------------------------------------


def window_facts(grant: Grant) -> dict[str, Any]:
    if grant.window_days is None:
        return {"set": False}
    return {
        "set": True,
        "days": sorted(int(d) for d in grant.window_days),
        "start": grant.window_start,
        "end": grant.window_end,
        "zone": grant.window_zone,
    }


def grant_facts(
    index: int,
    grant: Grant,
    role: Role,
    permissions: Sequence[str],
    *,
    caps: dict[str, dict[str, int]] | None,
    currency: str | None,
) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "id": grant.id,
        **tenancy_facts(grant.tenant_id, grant.bank_id),
        "role": role_facts(role, permissions),
        "limit_currency": optional(grant.limit_currency or None, "currency"),
        "valid_from": _moment(grant.valid_from),
        "valid_until": _moment(grant.valid_until),
        "window": window_facts(grant),
    }
    if currency is not None:
        levels: list[tuple[str, dict[str, int]]] = []
        if grant.limit_currency == currency:
            levels.append(("grant", limits_of(grant)))
        if role.limit_currency == currency:
            levels.append(("role", limits_of(role)))
        for level in ("tenant", "bank"):
            if caps and level in caps:
                levels.append((level, caps[level]))
        facts["caps"] = cap_entries(levels)
        facts["weekday"] = Dynamic(f"g{index}.weekday")
        facts["minute"] = Dynamic(f"g{index}.minute")
        facts["day_total"] = Dynamic(f"g{index}.day_total")
        facts["month_total"] = Dynamic(f"g{index}.month_total")
    else:
        facts["caps"] = cap_entries([])
    return facts


@dataclass
class Gathered:
    """What the database says about a request: the grants that reach the resource (with their
    roles and custom permissions), the caps in the money's currency, and the totals spent."""

    pairs: list[tuple[Grant, Role]]
    permissions: dict[int, list[str]]
    caps: dict[str, dict[str, int]] | None = None
    proposal_caps: dict[str, dict[str, int]] | None = None
    spend: dict[int, GrantSpendTotals] = field(default_factory=dict)
    person_spend: GrantSpendTotals = field(default_factory=GrantSpendTotals)


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
) -> Facts:
    """Gather everything decide/5 reads about this request. Grants whose role does not carry
    the action cannot speak for it and are left out, unless `only_carrying` is False (explain
    shows every grant that reaches the resource). `memo` (one per request) lets the several
    decisions of one request share the grants query."""
    key = ("grants", actor.user_id, resource.type, resource.id if resource.type == "account" else 0)
    cached = memo.get(key) if memo is not None else None
    if cached is None:
        if resource.type == "account" and resource.id is not None:
            pairs = grants_over_account(session, actor.user_id, resource.id)
        else:
            pairs = grants_of_user(session, actor.user_id)
        cached = (pairs, custom_permissions(session, (r for _, r in pairs)))
        if memo is not None:
            memo[key] = cached
    gathered = Gathered(pairs=cached[0], permissions=cached[1])
    if only_carrying:
        gathered.pairs = carrying(engine, gathered, action)
    if money is not None:
        if not actor.is_staff:
            gathered.caps = caps_for(session, actor.bank_id, actor.tenant_id, money.currency)
        # Totals matter only where a daily or monthly limit is set at some level; there the
        # person is locked first, so concurrent transfers cannot jointly pass the limit.
        cumulative = [
            g.id
            for g, r in gathered.pairs
            if g.id is not None and _has_cumulative_limit(g, r, gathered.caps, money.currency)
        ]
        if cumulative:
            if lock:
                lock_person(session, actor.user_id)
            today, month_start = tenant_day(now, tenant_zone or "UTC")
            gathered.spend = spend_totals(session, cumulative, money.currency, today, month_start)
            gathered.person_spend = person_totals(
                session, actor.user_id, money.currency, today, month_start
            )
    if proposal is not None or action in PROPOSING_ACTIONS:
        currency = proposal.currency if proposal else ""
        gathered.proposal_caps = caps_for(session, resource.bank_id, resource.tenant_id, currency)
    return shape_request(
        gathered,
        actor=actor,
        action=action,
        resource=resource,
        now=now,
        money=money,
        proposal=proposal,
        tenant_zone=tenant_zone,
    )


PROPOSING_ACTIONS = ("grant.manage", "role.manage")


def _has_cumulative_limit(
    grant: Grant, role: Role, caps: dict[str, dict[str, int]] | None, currency: str
) -> bool:
    if any(kind in limits for limits in (caps or {}).values() for kind in ("daily", "monthly")):
        return True
    return any(
        obj.limit_currency == currency and (obj.daily_limit or obj.monthly_limit)
        for obj in (grant, role)
    )


def carrying(engine: PolicyEngine, gathered: Gathered, action: str) -> list[tuple[Grant, Role]]:
    return [
        (g, r)
        for g, r in gathered.pairs
        if engine.role_carries(role_facts(r, gathered.permissions.get(r.id or 0, [])), action)
    ]


def shape_request(
    gathered: Gathered,
    *,
    actor: Actor,
    action: str,
    resource: Resource,
    now: dt.datetime,
    money: Money | None = None,
    proposal: Proposal | None = None,
    tenant_zone: str | None = None,
) -> Facts:
    """The request decide/5 reads, from gathered data; no database. policies/tests/ cases go
    through here too, so they test the facts exactly as the API builds them."""
    pairs = gathered.pairs
    values: dict[str, Any] = {"now": int(now.timestamp())}
    request: dict[str, Any] = {
        "action": action,
        "actor": actor_facts(actor),
        "resource": resource.facts,
        "now": Dynamic("now"),
    }
    facts = Facts(
        request=request,
        values=values,
        grants=[g for g, _ in pairs],
        roles={g.id: r for g, r in pairs if g.id is not None},
        spend=gathered.spend,
        person_spend=gathered.person_spend,
    )
    if money is not None:
        request["currency"] = money.currency
        # The person's totals across all their grants, in this currency, plus this amount.
        request["person"] = {
            "day_total": Dynamic("person.day_total"),
            "month_total": Dynamic("person.month_total"),
        }
        values["person.day_total"] = gathered.person_spend.spent_today + money.amount
        values["person.month_total"] = gathered.person_spend.spent_month + money.amount
        request["amount"] = Dynamic("amount")
        values["amount"] = money.amount
        request["counterparty"] = {
            "kind": money.counterparty.kind,
            **tenancy_facts(money.counterparty.tenant_id, money.counterparty.bank_id),
        }
    if proposal is None and action in PROPOSING_ACTIONS:
        proposal = Proposal(currency="")
    if proposal is not None:
        request["proposal"] = proposal.as_facts()
        caps = gathered.proposal_caps or {}
        request["caps"] = cap_entries(
            [(level, caps[level]) for level in ("tenant", "bank") if level in caps]
        )
    grants_facts = []
    for index, (grant, role) in enumerate(pairs):
        grants_facts.append(
            grant_facts(
                index,
                grant,
                role,
                gathered.permissions.get(role.id or 0, []),
                caps=gathered.caps,
                currency=money.currency if money else None,
            )
        )
        if money is not None:
            assert grant.id is not None
            zone = grant.window_zone or tenant_zone or "UTC"
            local = now.astimezone(ZoneInfo(zone))
            facts.local_times[grant.id] = local
            totals = gathered.spend.setdefault(grant.id, GrantSpendTotals())
            values[f"g{index}.weekday"] = local.weekday()
            values[f"g{index}.minute"] = local.hour * 60 + local.minute
            values[f"g{index}.day_total"] = totals.spent_today + money.amount
            values[f"g{index}.month_total"] = totals.spent_month + money.amount
    request["grants"] = grants_facts
    return facts
