"""Hypothesis strategies for policy facts: grants with every kind of condition."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from core.policy.engine import Dynamic
from core.policy.shaping import LIMIT_KINDS, optional

TENANT_PERMISSIONS = [
    "account.read",
    "statement.read",
    "transfer.create",
    "user.read",
    "grant.read",
    "payment.create",
    "payment.approve",
    "payment.cancel",
]
LIMITS = st.integers(min_value=1, max_value=10_000)
MONEY_ACTIONS = ["transfer.create", "payment.create"]
# The actions about a waiting payment: request.payment is among their facts.
PAYMENT_ACTIONS = ["payment.approve", "payment.reject", "payment.cancel"]
ACTOR_ID = 7
STEP_UP_AMOUNT = 5_000
BUILTIN_ROLES = ("payer", "bookkeeper", "corporate_admin", "approver")
# About a waiting payment, mostly approvers: so that every condition of an approval is met
# or failed often enough.
PAYMENT_ROLES = ("approver", "approver", "approver", "corporate_admin", "payer")
PAYMENT_STATUSES = ["pending_approval"] * 5 + [
    "scheduled",
    "posted",
    "sent",
    "rejected",
    "cancelled",
    "expired",
    "failed",
]


@st.composite
def windows(draw: Any) -> dict[str, Any]:
    if draw(st.booleans()):
        return {"set": False}
    start = draw(st.integers(0, 1439))
    # An end may be 1440: 24:00, the end of the day.
    end = draw(st.integers(0, 1440).filter(lambda e: e != start))
    days = sorted(draw(st.sets(st.integers(0, 6), min_size=1)))
    return {"set": True, "days": days, "start": start, "end": end, "zone": "Europe/Berlin"}


@st.composite
def caps(draw: Any) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for kind in LIMIT_KINDS:
        levels = draw(st.lists(st.sampled_from(["grant", "role", "tenant", "bank"]), unique=True))
        out[kind] = [{"kind": kind, "level": lvl, "amount": draw(LIMITS)} for lvl in levels]
    return out


@st.composite
def grants(
    draw: Any, index: int, tenant: int, money: bool, roles: tuple[str, ...] = BUILTIN_ROLES
) -> dict[str, Any]:
    builtin = draw(st.sampled_from([True, True, False]))
    role = {
        "key": draw(st.sampled_from(roles)) if builtin else "custom:9",
        "builtin": builtin,
        "level": "tenant",
        "permissions": []
        if builtin
        else draw(st.lists(st.sampled_from(TENANT_PERMISSIONS), unique=True)),
        "limit_currency": optional(draw(st.sampled_from([None, None, "EUR", "USD"])), "currency"),
    }
    grant: dict[str, Any] = {
        "id": index + 1,
        "level": "tenant",
        "tenant": draw(st.sampled_from([tenant] * 8 + [tenant + 1])),
        "bank": 1,
        "role": role,
        "limit_currency": optional(
            draw(st.sampled_from([None, "EUR", "EUR", "EUR", "USD"])), "currency"
        ),
        "valid_from": optional(draw(st.sampled_from([None, None, None, 500, 1500])), "at"),
        "valid_until": optional(draw(st.sampled_from([None, None, None, 1000, 2500])), "at"),
        "window": draw(windows()),
        "approval": {
            "group": optional(draw(st.sampled_from([None, "A", "B"])), "group"),
            "limit": optional(draw(st.sampled_from([None, None, 1000, 5000])), "amount"),
            "daily_limit": optional(draw(st.sampled_from([None, None, 3000, 8000])), "amount"),
        },
        "caps": draw(caps()) if money else {k: [] for k in LIMIT_KINDS},
    }
    if money:
        for name in ("weekday", "minute", "day_total", "month_total"):
            grant[name] = Dynamic(f"g{index}.{name}")
    return grant


@st.composite
def payments(draw: Any) -> dict[str, Any]:
    """A payment an approval decision is about (decide.polar: request.payment), as the person
    deciding sees it; its expiry is a dynamic value (values_for)."""
    still_needed = draw(st.sampled_from([0, 1, 1, 2, 3]))
    return {
        "status": draw(st.sampled_from(PAYMENT_STATUSES)),
        "prepared_by_actor": draw(st.sampled_from([False, False, True])),
        "approved_by_actor": draw(st.sampled_from([False, False, True])),
        "still_needed": still_needed,
        "still_needed_a": draw(st.integers(0, still_needed)),
        "expires_at": Dynamic("payment.expires_at"),
    }


@st.composite
def counterparties(draw: Any, action: str) -> dict[str, Any]:
    """The other account: a customer's of this tenant or another (of this bank or another),
    or a clearing account."""
    bank = draw(st.sampled_from([1, 1, 1, 2]))
    if action == "payment.create" and draw(st.booleans()):
        return {"kind": "clearing", "level": "bank", "bank": bank}
    return {
        "kind": "customer",
        "level": "tenant",
        "tenant": draw(st.sampled_from([1, 1, 2])),
        "bank": bank,
    }


@st.composite
def step_ups(draw: Any) -> dict[str, Any]:
    """What the company asks for step-up (policies/authentication.polar): nothing, or a code
    within one or five minutes, for money above 5,000 in EUR or USD or never."""
    minutes = draw(st.sampled_from([None, 1, 5, 5]))
    if minutes is None:
        return {"set": False}
    currency = draw(st.sampled_from([None, "EUR", "EUR", "USD"]))
    above = {"set": False} if currency is None else {"set": True, "currency": currency}
    if currency is not None:
        above["amount"] = STEP_UP_AMOUNT
    return {"set": True, "max_age": minutes * 60, "above": above}


@st.composite
def authentications(draw: Any) -> dict[str, Any]:
    """How the person last authenticated; its age is a dynamic value (values_for)."""
    if draw(st.integers(0, 4)) == 0:
        return {"set": False}
    methods = draw(st.sampled_from([["pwd"], ["otp", "pwd"], ["otp"], ["pwd", "rec"]]))
    return {"set": True, "methods": methods, "age": Dynamic("authentication.age")}


@st.composite
def requests(draw: Any) -> dict[str, Any]:
    action = draw(
        st.sampled_from(
            [*MONEY_ACTIONS, *PAYMENT_ACTIONS, "account.read", "statement.read", "user.read"]
        )
    )
    money = action in MONEY_ACTIONS
    actor = {"id": ACTOR_ID, "kind": "customer", "tenant": 1, "bank": 1}
    resource = {
        "type": "account",
        "level": "tenant",
        "tenant": draw(st.sampled_from([1] * 8 + [2])),
        "bank": 1,
    }
    request: dict[str, Any] = {
        "action": action,
        "actor": actor,
        "resource": resource,
        "now": Dynamic("now"),
        "grants": [
            draw(grants(i, 1, money, PAYMENT_ROLES if action in PAYMENT_ACTIONS else BUILTIN_ROLES))
            for i in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3])))
        ],
    }
    if money:
        request["currency"] = "EUR"
        request["amount"] = Dynamic("amount")
        request["person"] = {
            "day_total": Dynamic("person.day_total"),
            "month_total": Dynamic("person.month_total"),
        }
        request["counterparty"] = draw(counterparties(action))
    if action in (*MONEY_ACTIONS, *PAYMENT_ACTIONS):
        request["step_up"] = draw(step_ups())
        actor["authentication"] = draw(authentications())
    if action in PAYMENT_ACTIONS:
        # As core.policy.shaping gives it: the payment, and its amount and currency.
        request["payment"] = draw(payments())
        request["currency"] = draw(st.sampled_from(["EUR", "EUR", "USD"]))
        request["amount"] = Dynamic("amount")
        request["approver"] = {"day_total": Dynamic("approver.day_total")}
    return request


@st.composite
def values_for(draw: Any, request: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "now": draw(st.sampled_from([0, 499, 500, 999, 1000, 1499, 1500, 2499, 2500, 9999]))
    }
    if (request["actor"].get("authentication") or {}).get("set"):
        # Ages at, just under and just over the step-up's one and five minutes.
        values["authentication.age"] = draw(st.sampled_from([0, 59, 60, 61, 299, 300, 301, 9000]))
    if request["action"] in PAYMENT_ACTIONS:
        # Mostly after every `now` drawn above: a payment still waiting.
        values["payment.expires_at"] = draw(st.sampled_from([500, 1000, 2500, 10_000, 10_000]))
        # Amounts at, just under and just over the approval limits, as well as anywhere.
        limits = sorted(
            {
                grant["approval"]["limit"]["amount"] + offset
                for grant in request["grants"]
                if grant["approval"]["limit"]["set"]
                for offset in (-1, 0, 1)
            }
        )
        anywhere = st.integers(1, 12_000)
        values["amount"] = draw(
            st.one_of(st.sampled_from(limits), anywhere) if limits else anywhere
        )
        # What the approver approved today, plus this payment: at, just under and just over
        # the daily approval limits, as well as anywhere.
        daily = sorted(
            {
                grant["approval"]["daily_limit"]["amount"] + offset
                for grant in request["grants"]
                if grant["approval"]["daily_limit"]["set"]
                for offset in (-1, 0, 1)
            }
        )
        total = st.integers(values["amount"], 20_000)
        values["approver.day_total"] = max(
            draw(st.one_of(st.sampled_from(daily), total) if daily else total), values["amount"]
        )
    if request["action"] in MONEY_ACTIONS:
        # Amounts and totals at, just under and just over the limits, as well as anywhere.
        edges = sorted(
            {
                cap["amount"] + offset
                for grant in request["grants"]
                for kind in grant["caps"].values()
                for cap in kind
                for offset in (-1, 0, 1)
                if cap["amount"] + offset > 0
            }
            | {STEP_UP_AMOUNT - 1, STEP_UP_AMOUNT, STEP_UP_AMOUNT + 1}
        )
        near = st.sampled_from(edges) if edges else st.integers(1, 12_000)
        values["amount"] = draw(st.one_of(near, st.integers(1, 12_000)))
        for i, grant in enumerate(request["grants"]):
            window = grant["window"] if grant["window"]["set"] else None
            minutes = (
                st.sampled_from(
                    sorted(
                        {(window["start"] + d) % 1440 for d in (-1, 0, 1)}
                        | {(window["end"] + d) % 1440 for d in (-1, 0, 1)}
                    )
                )
                if window
                else st.integers(0, 1439)
            )
            values[f"g{i}.weekday"] = draw(st.integers(0, 6))
            values[f"g{i}.minute"] = draw(st.one_of(minutes, st.integers(0, 1439)))
            values[f"g{i}.day_total"] = max(
                values["amount"], draw(st.one_of(near, st.integers(0, 12_000)))
            )
            values[f"g{i}.month_total"] = max(
                values[f"g{i}.day_total"], draw(st.one_of(near, st.integers(0, 24_000)))
            )
        # The person's totals hold every grant's (and more, sent under other grants).
        day_totals = [values["amount"]] + [
            values[f"g{i}.day_total"] for i in range(len(request["grants"]))
        ]
        values["person.day_total"] = max(*day_totals, draw(st.one_of(near, st.integers(0, 24_000))))
        month_totals = [values["person.day_total"]] + [
            values[f"g{i}.month_total"] for i in range(len(request["grants"]))
        ]
        values["person.month_total"] = max(
            *month_totals, draw(st.one_of(near, st.integers(0, 48_000)))
        )
    return values


@st.composite
def approval_requests(draw: Any) -> dict[str, Any]:
    """An approval or a rejection by someone whose grants all carry payment.approve and
    speak for the payment's account: every condition of the payment itself is then asked."""
    request = draw(requests().filter(lambda r: r["action"] in PAYMENT_ACTIONS and r["grants"]))
    request["action"] = draw(st.sampled_from(["payment.approve", "payment.reject"]))
    request["resource"]["tenant"] = 1
    # Mostly still waiting, neither prepared nor approved already by the actor.
    payment = request["payment"]
    payment["status"] = draw(st.sampled_from(["pending_approval"] * 6 + ["posted"]))
    payment["prepared_by_actor"] = draw(st.sampled_from([False] * 6 + [True]))
    payment["approved_by_actor"] = draw(st.sampled_from([False] * 3 + [True]))
    payment["still_needed"] = draw(st.sampled_from([1, 1, 2, 0]))
    payment["still_needed_a"] = draw(st.sampled_from([0, 0, payment["still_needed"]]))
    for grant in request["grants"]:
        grant["tenant"] = 1
        grant["role"] = {**grant["role"], "key": "approver", "builtin": True, "permissions": []}
        grant["valid_from"] = {"set": False}
        # Sometimes an end: beside the payment's expiry, two bounds on the same `now`.
        grant["valid_until"] = optional(draw(st.sampled_from([None, None, 1000, 2500])), "at")
    return request
