"""Refusal reasons: their HTTP status and a sentence a person understands.

The codes come from policies/decide.polar; this module only words them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.money import format_amount

# reason code -> (HTTP status, what it means in general)
REASONS: dict[str, tuple[int, str]] = {
    "not_found": (404, "No such resource, or not visible to you."),
    "counterparty_not_found": (404, "The other account does not exist or is out of reach."),
    "missing_permission": (403, "None of your grants carries the permission this needs."),
    "grant_not_yet_valid": (403, "Your grant is not valid yet."),
    "grant_expired": (403, "Your grant has expired."),
    "outside_time_window": (403, "Outside the time window of your grant."),
    "limit_currency_mismatch": (403, "Your limits are set in another currency than the account's."),
    "limit_per_transfer": (403, "Above the per-transfer limit."),
    "limit_daily": (403, "Above the daily limit."),
    "limit_monthly": (403, "Above the monthly limit."),
    "self_change_forbidden": (403, "Nobody can change their own access."),
    "role_not_assignable": (403, "That role cannot be given to that user."),
    "exceeds_cap": (403, "A limit asked for is above the cap the bank set."),
}

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
LEVELS = {
    "grant": "your grant",
    "role": "your role",
    "tenant": "your company's cap",
    "bank": "the bank's cap",
}
# A cap that counts a person's total across all their grants (policies/limits.polar).
PERSON_LEVELS = {"tenant": "the company", "bank": "the bank"}
KIND_NAMES = {"per_transfer": "Per-transfer", "daily": "Daily", "monthly": "Monthly"}


def status_of(reason: str) -> int:
    return REASONS.get(reason, (403, ""))[0]


def describe_days(days: list[int]) -> str:
    """[0,1,2,3,4] -> "Mon–Fri"; [0,2,4] -> "Mon, Wed, Fri"."""
    days = sorted(days)
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{DAYS[days[0]]}–{DAYS[days[-1]]}"
    return ", ".join(DAYS[d] for d in days)


def clock_time(value: int) -> str:
    """Minutes after midnight as HH:MM."""
    return f"{value // 60:02d}:{value % 60:02d}"


def describe_window(window: dict[str, Any]) -> str:
    hours = f"{clock_time(window['start'])}–{clock_time(window['end'])}"
    return f"{describe_days(window['days'])} {hours} {window['zone']}"


def describe(
    reason: str,
    detail: dict[str, Any],
    *,
    action: str,
    amount: int | None = None,
    currency: str | None = None,
    spent_today: int | None = None,
    spent_month: int | None = None,
    person_spent_today: int | None = None,
    person_spent_month: int | None = None,
    local_time: dt.datetime | None = None,
    limit_currency: str | None = None,
) -> str:
    """A sentence for a refusal, with the figures that explain it. A per-person cap is told
    with what the person sent under all their grants; a grant's limit, with that grant's."""
    if reason in ("limit_daily", "limit_monthly") and currency and detail.get("per") == "person":
        kind, period, sent_amount = (
            ("Daily", "today", person_spent_today)
            if reason == "limit_daily"
            else ("Monthly", "this month", person_spent_month)
        )
        return (
            f"{kind} limit {format_amount(detail['amount'], currency)} for each person "
            f"(set by {PERSON_LEVELS.get(detail.get('level', ''), 'a cap')}): "
            f"{format_amount(sent_amount or 0, currency)} already sent {period} by you, "
            f"this transfer needs {format_amount(amount or 0, currency)}."
        )
    if reason in ("limit_per_transfer", "limit_daily", "limit_monthly") and currency:
        limit = format_amount(detail["amount"], currency)
        by = LEVELS.get(detail.get("level", ""), "a limit")
        needs = format_amount(amount or 0, currency)
        if reason == "limit_per_transfer":
            return f"Per-transfer limit {limit} (set by {by}); this transfer is {needs}."
        if reason == "limit_daily":
            sent = format_amount(spent_today or 0, currency)
            return (
                f"Daily limit {limit} (set by {by}): {sent} already sent today, "
                f"this transfer needs {needs}."
            )
        sent = format_amount(spent_month or 0, currency)
        return (
            f"Monthly limit {limit} (set by {by}): {sent} already sent this month, "
            f"this transfer needs {needs}."
        )
    if reason == "outside_time_window" and "days" in detail:
        text = f"Allowed {describe_window(detail)}"
        if local_time is not None:
            text += f"; it is {DAYS[local_time.weekday()]} {local_time:%H:%M} there"
        return text + "."
    if reason == "limit_currency_mismatch":
        return (
            f"Your limits are set in {limit_currency or 'another currency'}; "
            f"this account is in {currency}."
        )
    if reason == "grant_not_yet_valid" and "at" in detail:
        return f"Your grant is valid from {_when(detail['at'])}."
    if reason == "grant_expired" and "at" in detail:
        return f"Your grant ended at {_when(detail['at'])}."
    if reason == "exceeds_cap" and "amount" in detail:
        kind = KIND_NAMES.get(detail.get("kind", ""), "A")
        cap = format_amount(detail["amount"], currency or "EUR")
        by = LEVELS.get(detail.get("level", ""), "the cap")
        return f"{kind} limit asked for is above {by} of {cap}."
    if reason == "missing_permission":
        return f"None of your grants allows {action} here."
    return REASONS.get(reason, (403, "Refused by the policy."))[1]


def _when(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
