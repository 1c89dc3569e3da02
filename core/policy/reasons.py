"""Refusal reasons: their HTTP status, the form field they are about, and a sentence a
person understands.

The reasons are the policy's: policies/decide.polar answers them, and each condition of
policies/conditions.polar is named by its reason. This module only words them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.clock import clock_time
from core.errors import Code
from core.money import format_amount
from core.policy.panels import Progress, describe_needed


class Reason(Code):
    """A refusal reason: the API's "error" for a refusal, and the name of the policy's
    condition that gives it. A member equals its code as a string, so JSON is unchanged.

    `field` is the form field a refusal is shown beside in the console ("" for the form as a
    whole; "limits" for whichever limit the refusal's detail names)."""

    not_found = "not_found", 404, "No such resource, or not visible to you."
    counterparty_not_found = (
        "counterparty_not_found",
        404,
        "The other account does not exist or is out of reach.",
        "to_account_id",
    )
    missing_permission = (
        "missing_permission",
        403,
        "None of your grants carries the permission this needs.",
    )
    grant_not_yet_valid = "grant_not_yet_valid", 403, "Your grant is not valid yet."
    grant_expired = "grant_expired", 403, "Your grant has expired."
    outside_time_window = "outside_time_window", 403, "Outside the time window of your grant."
    limit_currency_mismatch = (
        "limit_currency_mismatch",
        403,
        "Your limits are set in another currency than the account's.",
        "amount",
    )
    limit_per_transfer = "limit_per_transfer", 403, "Above the per-transfer limit.", "amount"
    limit_daily = "limit_daily", 403, "Above the daily limit.", "amount"
    limit_monthly = "limit_monthly", 403, "Above the monthly limit.", "amount"
    self_change_forbidden = "self_change_forbidden", 403, "Nobody can change their own access."
    role_not_assignable = (
        "role_not_assignable",
        403,
        "That role cannot be given to that user.",
        "role_id",
    )
    exceeds_cap = (
        "exceeds_cap",
        403,
        "A limit asked for is above the cap the bank set.",
        "limits",
    )
    payment_not_pending = (
        "payment_not_pending",
        403,
        "The payment no longer awaits approval (scheduled, posted, sent, rejected, cancelled, "
        "expired or failed).",
    )
    self_approval_forbidden = (
        "self_approval_forbidden",
        403,
        "Who prepared a payment, added a beneficiary or proposed a policy version cannot approve "
        "it: a second person must.",
    )
    already_approved = "already_approved", 403, "You have already approved this payment."
    approval_group_not_needed = (
        "approval_group_not_needed",
        403,
        "The approvals still needed must come from signature group A.",
    )
    approval_limit_exceeded = (
        "approval_limit_exceeded",
        403,
        "The payment is above your approval limit.",
    )
    approval_daily_limit_exceeded = (
        "approval_daily_limit_exceeded",
        403,
        "Approving this payment would take what you approved today above your daily "
        "approval limit.",
    )
    change_request_not_pending = (
        "change_request_not_pending",
        403,
        "The change request awaits no decision (applied, rejected, refused or expired).",
    )
    peer_required = (
        "peer_required",
        403,
        "A company's change requests are decided by its corporate admins; bank staff's by "
        "a second bank manager; a version of the policy by the staff of its author's bank.",
    )
    own_change_request = (
        "own_change_request",
        403,
        "You asked for this change: another person must approve it.",
    )
    change_grants_approver_rights = (
        "change_grants_approver_rights",
        403,
        "This change gives you new rights: someone else must approve it.",
    )
    approver_tied_to_requester = (
        "approver_tied_to_requester",
        403,
        "You are tied to the requester (of a policy version: its author) — one of you "
        "created the other, gave them a grant or reset their password lately, directly or "
        "through others, or someone did so to you both: you cannot be their second person.",
    )
    grantee_tied_to_approver = (
        "grantee_tied_to_approver",
        403,
        "This change gives new rights to someone tied to you (one of you created the other, "
        "gave them a grant or reset their password lately, directly or through others, or "
        "someone did so to you both): someone else must approve it.",
    )
    # A family: a company's own rule answers tenant_rule:<its name>, with its own sentence
    # (decide.polar: tenant_refuses); this member is what every such reason is.
    tenant_rule = (
        "tenant_rule",
        403,
        "Refused by a rule the bank set for your company on its request.",
    )
    # 401, not 403: the person may do this once they authenticate strongly again (RFC 9470).
    step_up_required = (
        "step_up_required",
        401,
        "This needs a recent strong authentication: a code from your authenticator app.",
    )
    # An API client's token lacks the scope (policies/vocabulary.polar: scope_covers).
    scope_missing = (
        "scope_missing",
        403,
        "No scope of this API client's token covers the action: ask for a token with the "
        "scope that does (its grants may allow it; the token does not).",
    )


# Four eyes on policy versions (conditions.polar: self_approval_forbidden), in words.
_POLICY_VERSION_REFUSALS = {
    "policy_version.approve": "You proposed this version: another person must approve it.",
    "policy_version.reject": "You proposed this version: another person must reject it, or "
    "leave it unapproved.",
    "policy_version.activate": "You proposed this version, or approved this rollback: another "
    "person must put it in force.",
}

# reason code -> (HTTP status, what it means in general)
REASONS: dict[str, tuple[int, str]] = {r.value: (r.status, r.meaning) for r in Reason}

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
LIMIT_PERIODS = {"per_transfer": "per transfer", "daily": "a day", "monthly": "a month"}


def describe_limit(kind: str, amount: int, currency: str) -> str:
    """("daily", 500000, "EUR") -> "up to 5,000.00 EUR a day"."""
    return f"up to {format_amount(amount, currency)} {LIMIT_PERIODS.get(kind, kind)}"


# A company's own reasons: "tenant_rule:" and the rule's name. The API documents the family
# as TENANT_RULES.
TENANT_RULE_PREFIX = "tenant_rule:"
TENANT_RULES = "tenant_rule:*"


def family(reason: str) -> str:
    """The reason a code is of: itself, or "tenant_rule" for a company's own reason."""
    return Reason.tenant_rule.value if reason.startswith(TENANT_RULE_PREFIX) else reason


def status_of(reason: str) -> int:
    reason = family(reason)
    return Reason[reason].status if reason in REASONS else 403


def describe_days(days: list[int]) -> str:
    """[0,1,2,3,4] -> "Mon–Fri"; [0,2,4] -> "Mon, Wed, Fri"."""
    days = sorted(days)
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{DAYS[days[0]]}–{DAYS[days[-1]]}"
    return ", ".join(DAYS[d] for d in days)


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
    refusal_text: str | None = None,
    payment: dict[str, Any] | None = None,
) -> str:
    """A sentence for a refusal, with the figures that explain it. A per-person cap is told
    with what the person sent under all their grants; a grant's limit, with that grant's.
    `refusal_text` is the policy's words for missing the permission (vocabulary.polar:
    refusal_text/2); `payment` the facts of the payment an approval is about."""
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
            f"this {'payment' if payment else 'account'} is in {currency}."
        )
    if reason == "self_approval_forbidden" and payment is not None:
        verb = "reject" if action == "payment.reject" else "approve"
        left = Progress(int(payment["still_needed"]), int(payment["still_needed_a"]))
        return f"You prepared this payment: you cannot {verb} it yourself. {still_needs(left)}"
    if reason == "grant_not_yet_valid" and "at" in detail:
        return f"Your grant is valid from {_when(detail['at'])}."
    if reason == "grant_expired" and "at" in detail:
        return f"Your grant ended at {_when(detail['at'])}."
    if reason == "exceeds_cap" and "amount" in detail:
        kind = KIND_NAMES.get(detail.get("kind", ""), "A")
        cap = format_amount(detail["amount"], currency or "EUR")
        by = LEVELS.get(detail.get("level", ""), "the cap")
        return f"{kind} limit asked for is above {by} of {cap}."
    if reason == "approval_limit_exceeded" and "amount" in detail and currency:
        return (
            f"Your approval limit is {format_amount(detail['amount'], currency)}; this payment "
            f"is {format_amount(amount or 0, currency)}."
        )
    if reason == "approval_daily_limit_exceeded" and "amount" in detail and currency:
        before = spent_today or 0  # for this refusal: what the person approved today
        return (
            f"Your daily approval limit is {format_amount(detail['amount'], currency)}; you "
            f"approved {format_amount(before, currency)} today, and this payment is "
            f"{format_amount(amount or 0, currency)}."
        )
    if reason == "approval_group_not_needed" and "group_a" in detail:
        needed = detail["group_a"]
        return (
            f"The {needed} approval{'s' if needed != 1 else ''} still needed must come from "
            "signature group A."
        )
    if reason == "payment_not_pending" and "status" in detail:
        return f"The payment is {str(detail['status']).replace('_', ' ')}: it awaits no approval."
    if reason == "change_request_not_pending" and "status" in detail:
        return f"The change request is {detail['status']}: it awaits no decision."
    if reason == "self_approval_forbidden" and action == "beneficiary.approve":
        return "You added this beneficiary: another person must approve it."
    if reason == "self_approval_forbidden" and action.startswith("policy_version."):
        return _POLICY_VERSION_REFUSALS.get(action, "A second person must do this.")
    if reason == "step_up_required" and "max_age" in detail:
        return (
            f"This needs a code from your authenticator app, given within the last "
            f"{describe_max_age(int(detail['max_age']))}: sign in again with your code."
        )
    if reason == "missing_permission":
        return refusal_text or f"None of your grants allows {action} here."
    if reason.startswith(TENANT_RULE_PREFIX) and detail.get("text"):
        return str(detail["text"])
    return REASONS.get(reason, (403, "Refused by the policy."))[1]


def describe_max_age(seconds: int) -> str:
    """300 -> "5 minutes"; 60 -> "minute"; 90 -> "90 seconds"."""
    if seconds % 60:
        return f"{seconds} seconds"
    minutes = seconds // 60
    return "minute" if minutes == 1 else f"{minutes} minutes"


def still_needs(left: Progress) -> str:
    """ "It needs 2 more approvals, 1 of them from group A, from other people."."""
    others = "someone else" if left.still_needed == 1 else "other people"
    return f"It needs {describe_needed(left)}, from {others}."


def _when(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- each condition of an explanation, in words (the data stays beside it) ------------------

# Who set a limit, as an explanation about someone else words it.
SET_BY = {
    "grant": "the grant",
    "role": "the role",
    "tenant": "the company's cap",
    "bank": "the bank's cap",
}
# The limit conditions, and the kind of limit each checks.
LIMIT_CONDITIONS = {
    Reason.limit_per_transfer: "per_transfer",
    Reason.limit_daily: "daily",
    Reason.limit_monthly: "monthly",
}


def describe_condition(
    name: Reason,
    passed: bool,
    detail: dict[str, Any],
    *,
    request: dict[str, Any],
    grant: dict[str, Any] | None = None,
    meaning: str = "",
    cap: dict[str, Any] | None = None,
) -> str:
    """One condition of an explanation in words: what it asks and how the request fares.
    `name` is the condition's name in the policy, the reason it refuses with. `request` and
    `grant` are the facts as filled in; `cap` the effective limit (if any) of a limit
    condition; `meaning` the permission's description from the vocabulary."""
    grant = grant or {}
    currency = str(request.get("currency") or "EUR")
    if name == Reason.not_found:
        kind = request.get("resource", {}).get("type", "resource")
        if passed:
            return f"The {kind} is within their reach."
        return f"The {kind} is out of their reach: it answers as not found."
    if name == Reason.counterparty_not_found:
        return "Money may go to the other account." if passed else "Money may not go there."
    if name == Reason.missing_permission:
        action = request.get("action", "")
        said = f" ({meaning.rstrip('.')})" if meaning else ""
        if passed:
            return f"The role carries {action}{said}."
        return f"The role does not carry {action}{said}."
    if name == Reason.grant_not_yet_valid:
        return _validity_words("valid_from", passed, grant)
    if name == Reason.grant_expired:
        return _validity_words("valid_until", passed, grant)
    if name == Reason.outside_time_window:
        return _window_words(passed, detail, grant)
    if name == Reason.limit_currency_mismatch:
        if passed:
            return f"The limits fit the account's currency ({currency})."
        limit_currency = _currency_of(grant) or _currency_of(grant.get("role", {}))
        return f"The limits are set in {limit_currency}; the account is in {currency}."
    if name in LIMIT_CONDITIONS:
        return _limit_words(LIMIT_CONDITIONS[name], detail or cap, request, grant, currency)
    if name == Reason.self_change_forbidden:
        return "It is not about their own access." if passed else "It would change their access."
    if name == Reason.role_not_assignable:
        if passed:
            return "The role may be given to that person."
        return "That role cannot be given to that person."
    if name == Reason.exceeds_cap:
        if passed or "amount" not in detail:
            return "The limits asked for are within the caps." if passed else "Above a cap."
        kind = KIND_NAMES.get(detail.get("kind", ""), "A")
        limit = format_amount(detail["amount"], currency)
        by = SET_BY.get(detail.get("level", ""), "a cap")
        return f"{kind} limit asked for is above {by} of {limit}."
    if name in PAYMENT_CONDITIONS:
        return _payment_words(name, passed, detail, request, grant, currency)
    if name in CHANGE_REQUEST_WORDS:
        holds, fails = CHANGE_REQUEST_WORDS[name]
        return holds if passed else fails
    if name == Reason.step_up_required:
        return _step_up_words(passed, request)
    return "Holds." if passed else "Does not hold."


# The conditions about the change request an approval is about (conditions.polar), in words:
# (when it holds, when it refuses).
CHANGE_REQUEST_WORDS = {
    Reason.change_request_not_pending: (
        "The change request awaits a decision.",
        "The change request awaits no decision (or none is named).",
    ),
    Reason.peer_required: (
        "They are a peer of the requester.",
        "They are no peer of the requester.",
    ),
    Reason.own_change_request: ("Someone else asked for it.", "They asked for it themselves."),
    Reason.change_grants_approver_rights: (
        "It gives them no new rights.",
        "It gives them new rights.",
    ),
    Reason.approver_tied_to_requester: (
        "They are not tied to the requester lately.",
        "They are tied to the requester lately.",
    ),
    Reason.grantee_tied_to_approver: (
        "It gives no rights to someone tied to them.",
        "It gives new rights to someone tied to them lately.",
    ),
}


# The conditions about the payment an approval is about (conditions.polar).
PAYMENT_CONDITIONS = (
    Reason.payment_not_pending,
    Reason.self_approval_forbidden,
    Reason.already_approved,
    Reason.approval_group_not_needed,
    Reason.approval_limit_exceeded,
    Reason.approval_daily_limit_exceeded,
)


def _payment_words(
    name: Reason,
    passed: bool,
    detail: dict[str, Any],
    request: dict[str, Any],
    grant: dict[str, Any],
    currency: str,
) -> str:
    payment = request.get("payment") or {}
    if name == Reason.payment_not_pending:
        if passed:
            return f"The payment awaits approval until {_when(payment['expires_at'])}."
        status = str(detail.get("status", payment.get("status", ""))).replace("_", " ")
        return f"The payment is {status}: it awaits no approval."
    if name == Reason.self_approval_forbidden:
        if passed:
            return "Someone else prepared the payment."
        return "They prepared the payment: nobody approves their own."
    if name == Reason.already_approved:
        if passed:
            return "They have not approved it yet."
        return "They approved it already: nobody counts twice."
    if name == Reason.approval_group_not_needed:
        group = (grant.get("approval") or {}).get("group") or {}
        who = f"group {group['group']}" if group.get("set") else "someone without a group"
        left = Progress(int(payment["still_needed"]), int(payment["still_needed_a"]))
        fills = "fills one" if passed else "fills none of them"
        return f"It needs {describe_needed(left)}: an approval from {who} {fills}."
    if name == Reason.approval_daily_limit_exceeded:
        return _daily_approval_words(passed, request, grant, currency)
    limit = (grant.get("approval") or {}).get("limit") or {}
    if not limit.get("set"):
        return "No approval limit."
    text = f"Approval limit {format_amount(limit['amount'], currency)} (set by the grant)"
    amount = request.get("amount")
    if isinstance(amount, int):
        text += f"; this payment is {format_amount(amount, currency)}"
    return text + ("." if passed else ", above it.")


def _daily_approval_words(
    passed: bool, request: dict[str, Any], grant: dict[str, Any], currency: str
) -> str:
    daily = (grant.get("approval") or {}).get("daily_limit") or {}
    if not daily.get("set"):
        return "No daily approval limit."
    text = f"Daily approval limit {format_amount(daily['amount'], currency)} (set by the grant)"
    total = (request.get("approver") or {}).get("day_total")
    if isinstance(total, int):
        text += f"; with this payment, approved today: {format_amount(total, currency)}"
    return text + ("." if passed else ", above it.")


def _step_up_words(passed: bool, request: dict[str, Any]) -> str:
    """How the request fares with the company's step-up: what it asks, and the person's
    latest authentication."""
    step_up = request.get("step_up") or {}
    if not step_up.get("set"):
        return "The company asks no step-up."
    within = describe_max_age(int(step_up["max_age"]))
    authentication = (request.get("actor") or {}).get("authentication") or {}
    if not authentication.get("set"):
        done = "how they last signed in is not known here"
    else:
        methods = " and ".join(METHOD_NAMES.get(m, m) for m in authentication["methods"])
        age = authentication.get("age")
        done = f"they last signed in with {methods or 'nothing'}" + (
            f", {_ago(age)} ago" if isinstance(age, int) else ""
        )
    asked = f"a code from their authenticator within the last {within}"
    above = step_up.get("above") or {}
    if "counterparty" in request:  # a money move: asked only above the company's amount
        if not above.get("set"):
            return "The company asks no step-up for moving money."
        limit = format_amount(int(above["amount"]), str(above["currency"]))
        asked += f" for more than {limit}"
    if passed:
        return f"Asks {asked}: {done}."
    return f"Needs {asked}; {done}."


def _ago(seconds: int) -> str:
    """How long ago, roughly: "40 seconds", "12 minutes", "3 hours"."""
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 2 * 3600:
        return f"{seconds // 60} minutes"
    return f"{seconds // 3600} hours"


# The sign-in methods (RFC 8176 names) in words.
METHOD_NAMES = {"pwd": "a password", "otp": "a code", "rec": "a recovery code"}


def _currency_of(facts: dict[str, Any]) -> str:
    """The currency limits are set in, from a grant's or role's facts ("" if none)."""
    limit_currency = facts.get("limit_currency") or {}
    return str(limit_currency.get("currency", "")) if limit_currency.get("set") else ""


def _validity_words(name: str, passed: bool, grant: dict[str, Any]) -> str:
    bound = grant.get(name) or {}
    if not bound.get("set"):
        return "No start date." if name == "valid_from" else "No end date."
    when = _when(bound["at"])
    if name == "valid_from":
        return f"Valid from {when}." if passed else f"Not valid before {when}."
    return f"Valid until {when}." if passed else f"Ended at {when}."


def _window_words(passed: bool, detail: dict[str, Any], grant: dict[str, Any]) -> str:
    window = grant.get("window") or {}
    if not window.get("set"):
        window = detail if "days" in detail else {}
    if not window:
        return "Any day, any time."
    text = f"Allowed {describe_window(window)}"
    weekday, minute = grant.get("weekday"), grant.get("minute")
    if isinstance(weekday, int) and isinstance(minute, int):
        text += f"; it is {DAYS[weekday]} {clock_time(minute)} there"
    return text + "." if passed else text + ": outside it."


def _limit_words(
    kind: str,
    cap: dict[str, Any] | None,
    request: dict[str, Any],
    grant: dict[str, Any],
    currency: str,
) -> str:
    period = LIMIT_PERIODS[kind]
    if not cap or "amount" not in cap:
        return f"No limit {period}."
    text = describe_limit(kind, cap["amount"], currency)
    text = f"{text[0].upper()}{text[1:]} (set by {SET_BY.get(cap.get('level', ''), 'a limit')})"
    figure = {
        "per_transfer": ("this transfer is", request.get("amount")),
        "daily": ("today with this transfer:", grant.get("day_total")),
        "monthly": ("this month with this transfer:", grant.get("month_total")),
    }[kind]
    if isinstance(figure[1], int):
        text += f"; {figure[0]} {format_amount(figure[1], currency)}"
    return text + "."
