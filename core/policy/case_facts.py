"""A policy case's words as the rows the API would have gathered: an actor, grants and roles,
a resource, the other account of a money movement, the payment an approval is about, and an
approval panel's tiers. No database, and no decision: core.policy.cases shapes these through
core.policy.shaping and asks the policy, exactly as the API does.

Amounts are written in major units of their currency ("1,000.00"), times with their offset,
and a payment's expiry relative to the case's time ("3 days", "-1 second")."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from core.clock import DAY_NAMES, minutes_of_day
from core.context import Actor, Authentication
from core.models.iam import Grant, Role
from core.models.ledger import Account
from core.models.payments import ApprovalRule
from core.money import parse_amount
from core.policy.shaping import Approval, Resource, StepUp

ACTOR_ID = 100
# Who prepared a payment when a case says only that it was someone else.
SOMEONE_ELSE = 200
TENANT = 1
OTHER_TENANT = 2
BANK = 1
OTHER_BANK = 2
# The account a case is about (resource "account"): tiers may name it.
ACCOUNT = 1

# A payment a case does not describe: someone else prepared it, it waits for one approval,
# and it lapses three days after the case's time.
PAYMENT_DEFAULTS: dict[str, Any] = {
    "initiator": "someone else",
    "status": "pending_approval",
    "approvers": [],
    "still_needed": 1,
    "still_needed_a": 0,
    "expires_in": "3 days",
}
_DURATION = re.compile(r"(-?\d+) (second|minute|hour|day)s?")


def minor(value: Any, currency: str) -> int | None:
    if value is None:
        return None
    return parse_amount(str(value), currency)


def when(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"{value}: give the time zone offset")
    return moment


def duration(value: Any) -> dt.timedelta:
    """ "3 days", "-1 second", "0 seconds" -> a timedelta."""
    match = _DURATION.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not a duration such as '3 days' or '-1 second'")
    count, unit = int(match.group(1)), match.group(2)
    return dt.timedelta(**{f"{unit}s": count})


def _limits(target: Grant | Role, spec: dict[str, Any] | None) -> None:
    if not spec:
        return
    currency = spec["currency"]
    target.limit_currency = currency
    target.per_transfer_limit = minor(spec.get("per_transfer"), currency)
    target.daily_limit = minor(spec.get("daily"), currency)
    target.monthly_limit = minor(spec.get("monthly"), currency)


def _approval(grant: Grant, spec: dict[str, Any] | None) -> None:
    """An approver's signature group, approval limit and daily approval limit. The limits are
    in the grant's limit
    currency (as on a real grant): the approval's own `currency`, else the limits', else
    EUR."""
    if not spec:
        return
    grant.approval_group = spec.get("group")
    if spec.get("limit") is None and spec.get("daily_limit") is None:
        return
    limit_currency = spec.get("currency") or grant.limit_currency or "EUR"
    if grant.limit_currency and grant.limit_currency != limit_currency:
        raise ValueError("a grant's limits and approval limit are in one currency")
    grant.limit_currency = limit_currency
    grant.approval_limit = minor(spec.get("limit"), limit_currency)
    grant.approval_daily_limit = minor(spec.get("daily_limit"), limit_currency)


def build_grant(index: int, spec: dict[str, Any], actor: Actor) -> tuple[Grant, Role, list[str]]:
    key = spec.get("role", "payer")
    custom = key == "custom"
    # A role built in at both levels (decision_service) says which: `level: bank`.
    level = spec.get("level") or (
        "bank" if key in ("bank_manager", "compliance_officer") else "tenant"
    )
    tenant = spec.get("tenant", actor.tenant_id if level == "tenant" else None)
    role_id = 1000 + index
    role = Role(
        id=role_id,
        bank_id=BANK,
        tenant_id=tenant if level == "tenant" else None,
        key=key,
        name=key,
        builtin=not custom,
        level=level,
    )
    _limits(role, spec.get("role_limits"))
    grant = Grant(
        id=index + 1,
        user_id=actor.user_id,
        role_id=role_id,
        bank_id=BANK,
        tenant_id=tenant if level == "tenant" else None,
        all_accounts=True,
        valid_from=when(spec.get("valid_from")),
        valid_until=when(spec.get("valid_until")),
    )
    _limits(grant, spec.get("limits"))
    _approval(grant, spec.get("approval"))
    window = spec.get("window")
    if window:
        grant.window_days = "".join(str(DAY_NAMES.index(d)) for d in window["days"])
        grant.window_start = minutes_of_day(str(window["start"]))
        grant.window_end = minutes_of_day(str(window["end"]))
        grant.window_zone = window["time_zone"]
    return grant, role, list(spec.get("permissions", []))


def actor(value: Any) -> Actor:
    if value in (None, "customer"):
        return Actor(ACTOR_ID, "case", "Case", BANK, TENANT)
    if value == "staff":
        return Actor(ACTOR_ID, "case", "Case", BANK, None)
    if isinstance(value, dict):
        kind = value.get("kind", "customer")
        tenant = value.get("tenant", TENANT) if kind == "customer" else None
        # An API client with its token's scopes: {scopes: [accounts:read]}.
        scopes = value.get("scopes")
        return Actor(
            value.get("id", ACTOR_ID),
            "case",
            "Case",
            value.get("bank", BANK),
            tenant,
            scopes=tuple(scopes) if scopes is not None else None,
        )
    raise ValueError(f"actor is customer, staff or a mapping, not {value!r}")


def authentication(value: Any, now: dt.datetime) -> Authentication | None:
    """How the case's actor last authenticated: {methods: [pwd, otp], ago: "3 minutes"}; by
    default a password, at the case's time; `unknown` for someone an explanation is about."""
    if value == "unknown":
        return None
    given = {"methods": ["pwd"], "ago": "0 seconds", **(value or {})}
    unknown = set(given) - {"methods", "ago"}
    if unknown:
        raise ValueError(f"authentication has methods and ago, not {sorted(unknown)}")
    return Authentication(
        methods=tuple(str(m) for m in given["methods"]), at=now - duration(given["ago"])
    )


def step_up(value: Any) -> StepUp:
    """What the company asks for step-up: {minutes: 5}, and for money {above: "10,000.00",
    currency: EUR}; none by default."""
    if value is None:
        return StepUp()
    unknown = set(value) - {"minutes", "above", "currency"}
    if unknown:
        raise ValueError(f"step_up has minutes, above and currency, not {sorted(unknown)}")
    currency = value.get("currency", "EUR") if "above" in value else None
    return StepUp(int(value["minutes"]), currency, minor(value.get("above"), currency or "EUR"))


def resource(value: Any, actor: Actor) -> Resource:
    if value in (None, "account"):
        return Resource("account", ACCOUNT, TENANT, BANK)
    if value == "other-tenant-account":
        return Resource("account", 2, OTHER_TENANT, BANK)
    if value == "bank":
        return Resource.of_bank(BANK)
    if value == "tenant":
        return Resource.of_tenant(TENANT, BANK)
    if isinstance(value, dict):
        kind = value.get("type", "account")
        tenant = value.get("tenant", TENANT if kind != "bank" else None)
        extra = tuple((k, v) for k, v in value.items() if k not in ("type", "tenant", "id", "bank"))
        ident = value.get("id", actor.user_id if value.get("self") else 1)
        extra = tuple((k, v) for k, v in extra if k != "self")
        return Resource(kind, ident, tenant or None, value.get("bank", BANK), extra=extra)
    raise ValueError(f"unknown resource {value!r}")


# The other account of a money movement, by what a case calls it: (bank, tenant, kind).
COUNTERPARTIES: dict[str, tuple[int, int | None, str]] = {
    "same-tenant": (BANK, TENANT, "customer"),
    "other-tenant": (BANK, OTHER_TENANT, "customer"),
    "clearing": (BANK, None, "clearing"),
    "other-bank": (OTHER_BANK, 3, "customer"),
    "other-bank-clearing": (OTHER_BANK, None, "clearing"),
}


def counterparty(value: Any, currency: str) -> Account:
    name = "same-tenant" if value is None else str(value)
    if name not in COUNTERPARTIES:
        raise ValueError(f"counterparty is one of {', '.join(COUNTERPARTIES)}, not {value!r}")
    bank, tenant, kind = COUNTERPARTIES[name]
    return Account(bank_id=bank, tenant_id=tenant, name="", currency=currency, kind=kind)


def _person(value: Any, actor: Actor) -> int:
    """ "self" is the case's actor, "someone else" another person of the company; or an id."""
    if value == "self":
        return actor.user_id
    if value == "someone else":
        return SOMEONE_ELSE
    if isinstance(value, int):
        return value
    raise ValueError(f"a person is self, someone else or a user id, not {value!r}")


def payment(
    spec: dict[str, Any] | None, actor: Actor, *, now: dt.datetime, amount: int, currency: str
) -> Approval:
    """The payment an approval decision is about (decide.polar: request.payment), as
    core.payments builds it from its row: who prepared it, its stored status, who approved
    it so far, what its panel still needs, and when it lapses."""
    given = {**PAYMENT_DEFAULTS, **(spec or {})}
    unknown = set(given) - set(PAYMENT_DEFAULTS)
    if unknown:
        raise ValueError(f"a payment has {', '.join(PAYMENT_DEFAULTS)}, not {sorted(unknown)}")
    return Approval(
        initiator_id=_person(given["initiator"], actor),
        status=str(given["status"]),
        approver_ids=tuple(_person(p, actor) for p in given["approvers"]),
        still_needed=int(given["still_needed"]),
        still_needed_a=int(given["still_needed_a"]),
        expires_at=now + duration(given["expires_in"]),
        amount=amount,
        currency=currency,
    )


def tier(spec: dict[str, Any]) -> ApprovalRule:
    """A tier of an approval panel as its row: the bank's minimum (`bank: true`) or the
    company's own rule, in a currency, from an amount, of a kind, from an account if named."""
    currency = spec.get("currency", "EUR")
    amount = minor(spec.get("min_amount", "0.00"), currency)
    assert amount is not None
    return ApprovalRule(
        bank_id=BANK,
        tenant_id=None if spec.get("bank") else TENANT,
        currency=currency,
        min_amount=amount,
        kind=spec.get("kind", "any"),
        account_id=spec.get("account"),
        approvals=int(spec.get("approvals", 1)),
        group_a=int(spec.get("group_a", 0)),
    )
