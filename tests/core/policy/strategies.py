"""Hypothesis strategies for policy facts: grants with every kind of condition."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from core.policy.engine import Dynamic
from core.policy.facts import LIMIT_KINDS, optional

TENANT_PERMISSIONS = [
    "account.read",
    "statement.read",
    "transfer.create",
    "user.read",
    "grant.read",
]
LIMITS = st.integers(min_value=1, max_value=10_000)


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
def grants(draw: Any, index: int, tenant: int, money: bool) -> dict[str, Any]:
    builtin = draw(st.sampled_from([True, True, False]))
    role = {
        "key": draw(st.sampled_from(["payer", "bookkeeper", "corporate_admin"]))
        if builtin
        else "custom:9",
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
        "caps": draw(caps()) if money else {k: [] for k in LIMIT_KINDS},
    }
    if money:
        for name in ("weekday", "minute", "day_total", "month_total"):
            grant[name] = Dynamic(f"g{index}.{name}")
    return grant


@st.composite
def requests(draw: Any) -> dict[str, Any]:
    action = draw(
        st.sampled_from(["transfer.create", "account.read", "statement.read", "user.read"])
    )
    money = action == "transfer.create"
    actor = {"id": 7, "kind": "customer", "tenant": 1, "bank": 1}
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
            draw(grants(i, 1, money)) for i in range(draw(st.sampled_from([0, 1, 1, 1, 2, 3])))
        ],
    }
    if money:
        request["currency"] = "EUR"
        request["amount"] = Dynamic("amount")
        request["person"] = {
            "day_total": Dynamic("person.day_total"),
            "month_total": Dynamic("person.month_total"),
        }
        request["counterparty"] = {
            "kind": "customer",
            "level": "tenant",
            "tenant": draw(st.sampled_from([1, 1, 2])),
            "bank": 1,
        }
    return request


@st.composite
def values_for(draw: Any, request: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "now": draw(st.sampled_from([0, 499, 500, 999, 1000, 1499, 1500, 2499, 2500, 9999]))
    }
    if request["action"] == "transfer.create":
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
