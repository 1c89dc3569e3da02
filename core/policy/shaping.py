"""The facts the policy reads, shaped from plain rows. No database here: the rows come from
core.policy.repository and core.policy.spend (see core.policy.facts.build_request), or from a
policy test case (core.policy.cases), and become policies/decide.polar documents, with no
placeholder values: what may be absent is {"set": False} or {"set": True, ...}, and
bank-level things say level "bank"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from core.context import Actor, Authentication
from core.models.iam import Grant, LimitCap, Role, User
from core.models.ledger import Account
from core.policy.engine import Dynamic, PolicyEngine

LIMIT_KINDS = ("per_transfer", "daily", "monthly")
PROPOSING_ACTIONS = ("grant.manage", "role.manage")
# The condition that reads the step-up facts (policies/authentication.polar): they are
# gathered for the actions that check it.
STEP_UP = "step_up_required"


def actor_facts(actor: Actor) -> dict[str, Any]:
    facts: dict[str, Any] = {"id": actor.user_id, "kind": actor.kind, "bank": actor.bank_id}
    # Staff act for their bank: they have no tenant, and the facts say so by leaving it out.
    if actor.tenant_id is not None:
        facts["tenant"] = actor.tenant_id
    # An API client's token narrows what it may do to its scopes (decide.polar: scope_missing);
    # a person's token is not scoped.
    facts["scoped"] = actor.scopes is not None
    facts["scopes"] = sorted(actor.scopes or ())
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

    @classmethod
    def of_actor(cls, actor: Actor) -> Resource:
        """The person asking, as a resource: what their own actions (self.read) are about."""
        return cls("user", actor.user_id, actor.tenant_id, actor.bank_id)


@dataclass(frozen=True)
class Money:
    """The money side of a money-moving request. `beneficiary_added_at`: a payment's, when the
    beneficiary was added (its age is a fact a company's own rules may read)."""

    amount: int
    currency: str
    counterparty: Account
    beneficiary_added_at: dt.datetime | None = None


@dataclass(frozen=True)
class Approval:
    """The payment an approval decision is about (payment.approve): who prepared it, where it
    stands, who approved it so far, and what its panel still needs."""

    initiator_id: int
    status: str
    approver_ids: tuple[int, ...]
    still_needed: int
    still_needed_a: int
    expires_at: dt.datetime
    amount: int
    currency: str

    def as_facts(self, actor_id: int, values: dict[str, Any]) -> dict[str, Any]:
        """The payment as the person deciding sees it: whether they prepared it and whether
        they approved it already, rather than who did, so that the decisions about many
        payments share one compiled program; the expiry is a dynamic value (`values`)."""
        values["payment.expires_at"] = int(self.expires_at.timestamp())
        return {
            "status": self.status,
            "prepared_by_actor": self.initiator_id == actor_id,
            "approved_by_actor": actor_id in self.approver_ids,
            "still_needed": self.still_needed,
            "still_needed_a": self.still_needed_a,
            "expires_at": Dynamic("payment.expires_at"),
        }


@dataclass(frozen=True)
class StepUp:
    """What a company (the bank, for its own staff) asks for step-up: a strong authentication
    within `minutes` (0: no step-up), and for money moves only above `amount` in
    `currency` (None: never for money)."""

    minutes: int = 0
    currency: str | None = None
    amount: int | None = None

    def as_facts(self) -> dict[str, Any]:
        if not self.minutes:
            return {"set": False}
        above: dict[str, Any] = {"set": False}
        if self.currency is not None and self.amount is not None:
            above = {"set": True, "currency": self.currency, "amount": self.amount}
        return {"set": True, "max_age": self.minutes * 60, "above": above}


def authentication_facts(
    authentication: Authentication | None, now: dt.datetime, values: dict[str, Any]
) -> dict[str, Any]:
    """How and when the person last authenticated: the methods (a fact), and how many seconds
    ago (a dynamic value, in `values`, so that every request of one session shares one
    compiled decision). Not known: {"set": False}."""
    if authentication is None:
        return {"set": False}
    values["authentication.age"] = max(int((now - authentication.at).total_seconds()), 0)
    return {
        "set": True,
        "methods": sorted(set(authentication.methods)),
        "age": Dynamic("authentication.age"),
    }


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
    # payment.approve: what the person approved today (the company's day), in the payment's
    # currency (read only when a grant sets a daily approval limit).
    approved_today: int = 0
    local_times: dict[int, dt.datetime] = field(default_factory=dict)
    # Money actions on a tenant's account: the tenant-local day the movement counts on.
    day: dt.date | None = None
    # The facts with every grant that reaches the resource, carrying the action or not, when
    # some do not (shaped only if the decision is logged): see recorded().
    complete: Callable[[], Facts] | None = None

    def recorded(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The request and values the decision log keeps: these, with every grant that
        reaches the resource, so that a replay under a policy whose roles carry more finds
        the grants it would find live. A replay keeps of them those whose role carries the
        action under the policy it replays (core.policy.replay), as deciding live does: under
        the policy of the day that leaves exactly the grants decided on."""
        if self.complete is None:
            return self.request, self.values
        complete = self.complete()
        return complete.request, complete.values


def _moment(value: dt.datetime | None) -> dict[str, Any]:
    return optional(None if value is None else int(value.timestamp()), "at")


def role_facts(role: Role, permissions: Sequence[str]) -> dict[str, Any]:
    return {
        "key": role.key if role.builtin else f"custom:{role.id}",
        "builtin": role.builtin,
        "level": role.level,
        "permissions": list(permissions),
        "limit_currency": optional(role.limit_currency or None, "currency"),
    }


# -- caps, limits and totals ----------------------------------------------------------------


def caps_by_level(rows: Iterable[LimitCap]) -> dict[str, dict[str, int]]:
    """The bank's and the tenant's caps in one currency: {"tenant": {"daily": 500000}, ...}."""
    caps: dict[str, dict[str, int]] = {}
    for cap in rows:
        level = "bank" if cap.tenant_id is None else "tenant"
        caps[level] = limits_of(cap)
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


def limits_of(obj: Grant | Role | LimitCap) -> dict[str, int]:
    """The limits set on a grant, a role or a cap, by kind (a kind not set is left out)."""
    return {
        kind: value
        for kind, value in (
            ("per_transfer", obj.per_transfer_limit),
            ("daily", obj.daily_limit),
            ("monthly", obj.monthly_limit),
        )
        if value is not None
    }


def tenant_day(now: dt.datetime, zone: str) -> tuple[dt.date, dt.date]:
    """Today and the first day of this month, in the tenant's zone."""
    local = now.astimezone(ZoneInfo(zone))
    return local.date(), local.date().replace(day=1)


def fold_spend(
    rows: Iterable[tuple[str, int, dt.date, int]],
    grant_ids: Sequence[int],
    today: dt.date,
) -> tuple[dict[int, GrantSpendTotals], GrantSpendTotals]:
    """Today's and this month's totals from spend rows (side, owner, day, amount), side
    "grant" (owner: a grant id) or "person" (owner: the user): per grant, and the person's."""
    grants = {gid: GrantSpendTotals() for gid in grant_ids}
    person = GrantSpendTotals()
    for side, owner, day, amount in rows:
        totals = person if side == "person" else grants.setdefault(owner, GrantSpendTotals())
        totals.spent_month += amount
        if day == today:
            totals.spent_today += amount
    return grants, person


def has_cumulative_limit(
    grant: Grant, role: Role, caps: dict[str, dict[str, int]] | None, currency: str
) -> bool:
    """Whether a daily or monthly limit is set at some level for this grant, in `currency`:
    only then do today's totals matter (and the person is locked to read them)."""
    if any(kind in limits for limits in (caps or {}).values() for kind in ("daily", "monthly")):
        return True
    return any(
        obj.limit_currency == currency and (obj.daily_limit or obj.monthly_limit)
        for obj in (grant, role)
    )


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
        "approval": {
            "group": optional(grant.approval_group, "group"),
            "limit": optional(grant.approval_limit, "amount"),
            "daily_limit": optional(grant.approval_daily_limit, "amount"),
        },
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
    # payment.approve: what the person approved today (the company's day), in the payment's
    # currency (read only when a grant sets a daily approval limit).
    approved_today: int = 0
    # Every grant that reaches the resource, in order, when `pairs` keeps only those whose
    # role carries the action and some do not (None: `pairs` holds them all).
    reaching: list[tuple[Grant, Role]] | None = None
    # The actions that check step-up: what the actor's company asks (None: not gathered).
    step_up: StepUp | None = None

    @property
    def all_pairs(self) -> list[tuple[Grant, Role]]:
        """Every grant that reaches the resource, carrying the action or not."""
        return self.pairs if self.reaching is None else self.reaching


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
    approval: Approval | None = None,
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
        request.update(money_facts(money, gathered.person_spend, values))
        if money.beneficiary_added_at is not None:
            request["beneficiary"] = beneficiary_facts(money.beneficiary_added_at, now, values)
        if tenant_zone is not None:
            facts.day, _ = tenant_day(now, tenant_zone)
            request["local_time"] = local_time_facts(now, tenant_zone, values)
    if approval is not None:
        # The payment's own amount and currency: the approver's limits are held to them.
        request["payment"] = approval.as_facts(actor.user_id, values)
        request["currency"] = approval.currency
        request["amount"] = Dynamic("amount")
        values["amount"] = approval.amount
        request["approver"] = {"day_total": Dynamic("approver.day_total")}
        values["approver.day_total"] = gathered.approved_today + approval.amount
    if gathered.step_up is not None:
        request["step_up"] = gathered.step_up.as_facts()
        request["actor"]["authentication"] = authentication_facts(actor.authentication, now, values)
    if proposal is None and action in PROPOSING_ACTIONS:
        proposal = Proposal(currency="")
    if proposal is not None:
        caps = gathered.proposal_caps or {}
        request["proposal"] = proposal.as_facts()
        request["caps"] = cap_entries(
            [(level, caps[level]) for level in ("tenant", "bank") if level in caps]
        )
    currency = money.currency if money else None
    request["grants"] = [
        grant_facts(
            index,
            grant,
            role,
            gathered.permissions.get(role.id or 0, []),
            caps=gathered.caps,
            currency=currency,
        )
        for index, (grant, role) in enumerate(pairs)
    ]
    if money is not None:
        for index, (grant, _) in enumerate(pairs):
            assert grant.id is not None
            local = now.astimezone(ZoneInfo(grant.window_zone or tenant_zone or "UTC"))
            facts.local_times[grant.id] = local
            totals = gathered.spend.setdefault(grant.id, GrantSpendTotals())
            values.update(grant_values(index, local, totals, money.amount))
    return facts


def money_facts(money: Money, person: GrantSpendTotals, values: dict[str, Any]) -> dict[str, Any]:
    """The money side of a request: currency, amount, counterparty, and the person's totals
    across all their grants in this currency plus this amount (their values go to `values`)."""
    values["person.day_total"] = person.spent_today + money.amount
    values["person.month_total"] = person.spent_month + money.amount
    values["amount"] = money.amount
    return {
        "currency": money.currency,
        "person": {
            "day_total": Dynamic("person.day_total"),
            "month_total": Dynamic("person.month_total"),
        },
        "amount": Dynamic("amount"),
        "counterparty": {
            "kind": money.counterparty.kind,
            **tenancy_facts(money.counterparty.tenant_id, money.counterparty.bank_id),
        },
    }


def beneficiary_facts(
    added_at: dt.datetime, now: dt.datetime, values: dict[str, Any]
) -> dict[str, Any]:
    """A payment's beneficiary: its age in whole days (dynamic: it grows with the time)."""
    values["beneficiary.age_days"] = max(0, (now - added_at) // dt.timedelta(days=1))
    return {"age_days": Dynamic("beneficiary.age_days")}


def local_time_facts(now: dt.datetime, zone: str, values: dict[str, Any]) -> dict[str, Any]:
    """The time in the company's zone, for money actions: the weekday (0 Monday .. 6 Sunday)
    and the minute of the day (dynamic, as each grant's own)."""
    local = now.astimezone(ZoneInfo(zone))
    values["local.weekday"] = local.weekday()
    values["local.minute"] = local.hour * 60 + local.minute
    return {"weekday": Dynamic("local.weekday"), "minute": Dynamic("local.minute")}


def grant_values(
    index: int, local: dt.datetime, totals: GrantSpendTotals, amount: int
) -> dict[str, int]:
    """The dynamic values of grant number `index`: the local weekday and minute (in its
    window's zone), and its totals plus this amount."""
    return {
        f"g{index}.weekday": local.weekday(),
        f"g{index}.minute": local.hour * 60 + local.minute,
        f"g{index}.day_total": totals.spent_today + amount,
        f"g{index}.month_total": totals.spent_month + amount,
    }
