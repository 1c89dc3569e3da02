"""What an admin action did, in words, for the person's activity ("gave bob the role Payer
over all accounts, up to 1,000.00 EUR per transfer, Mon–Fri 09:00–17:00 Europe/Berlin";
"gave ann the role Approver over all accounts, signature group A, approving up to
1,000.00 EUR a payment")."""

from __future__ import annotations

import datetime as dt

from core.iam.schemas import CapPublic, GrantPublic, LimitSet, RolePublic, TimeWindow
from core.money import format_amount
from core.policy.reasons import DAYS, describe_days, describe_limit


def limits_words(limits: LimitSet | None) -> str:
    if limits is None:
        return ""
    parts = [
        describe_limit(kind, amount, limits.currency)
        for kind, amount in (
            ("per_transfer", limits.per_transfer),
            ("daily", limits.daily),
            ("monthly", limits.monthly),
        )
        if amount is not None
    ]
    return ", ".join(parts)


def window_words(window: TimeWindow | None) -> str:
    if window is None:
        return ""
    days = describe_days([[d.lower() for d in DAYS].index(day) for day in window.days])
    return f"{days} {window.start}–{window.end} {window.time_zone}"


def approval_words(grant: GrantPublic) -> str:
    """An approver's terms: "signature group A, approving up to 1,000.00 EUR a payment"."""
    parts = []
    if grant.approval_group is not None:
        parts.append(f"signature group {grant.approval_group}")
    if grant.approval_limit is not None and grant.limits is not None:
        amount = format_amount(grant.approval_limit, grant.limits.currency)
        parts.append(f"approving up to {amount} a payment")
    if grant.approval_daily_limit is not None and grant.limits is not None:
        amount = format_amount(grant.approval_daily_limit, grant.limits.currency)
        parts.append(f"approving up to {amount} a day in all")
    return ", ".join(parts)


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def grant_terms(grant: GrantPublic) -> str:
    """The grant's scope and conditions: "over all accounts, up to ..., Mon–Fri ..."."""
    scope = (
        "over all accounts"
        if grant.all_accounts
        else "over accounts " + ", ".join(str(i) for i in grant.account_ids)
    )
    parts = [
        scope,
        limits_words(grant.limits),
        approval_words(grant),
        window_words(grant.window),
    ]
    if grant.valid_from is not None:
        parts.append(f"valid from {_when(grant.valid_from)}")
    if grant.valid_until is not None:
        parts.append(f"until {_when(grant.valid_until)}")
    return ", ".join(p for p in parts if p)


def role_terms(role: RolePublic) -> str:
    terms = ", ".join(role.permissions) or "no permissions"
    limits = limits_words(role.limits)
    return f"{terms}; {limits}" if limits else terms


def cap_terms(cap: CapPublic) -> str:
    limits = LimitSet(
        currency=cap.currency,
        per_transfer=cap.per_transfer,
        daily=cap.daily,
        monthly=cap.monthly,
    )
    return limits_words(limits) or f"no {cap.currency} caps"
