"""Rendering console pages: the templates, their filters, and the page frame (who is signed
in and the sections they may open)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from admin.banner import maintenance_window
from admin.workspace import Workspace, workspace
from core.context import RequestContext
from core.errors import ERROR_CODES
from core.governance.schemas import Governed
from core.ledger.identifiers import formatted
from core.money import MINOR_UNITS, format_amount
from core.policy import engine as policy_engine
from core.policy.matrix import condition_texts
from core.policy.reasons import REASONS, family

# Where the console is mounted on the app (api.app.create_app).
PREFIX = "/console"
HERE = Path(__file__).parent

# Autoescaping is on for every template: names and descriptions are typed by customers.
_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates = Jinja2Templates(env=_env)

# Outcomes a page was redirected with (?done=...): fixed sentences, so nothing a visitor puts
# in a URL is ever shown.
NOTICES = {
    "signed-out": "You are signed out.",
    "posted": "Transfer posted.",
    "replayed": "This form had already been sent: the transfer was made once and not again.",
    "user-created": "User created. Give them their first password in person or by phone.",
    "user-updated": "User updated.",
    "password-reset": "Password reset. Every session of this user has ended.",
    "role-created": "Role created.",
    "role-updated": "Role updated.",
    "role-deleted": "Role deleted.",
    "grant-created": "Grant given.",
    "grant-revoked": "Grant revoked.",
    "tenant-created": "Customer onboarded.",
    "cap-set": "Cap saved.",
    "account-opened": "Account opened.",
    "account-updated": "Account updated.",
    "deposit-posted": "Deposit posted.",
    "withdrawal-posted": "Withdrawal posted.",
    "payment-posted": "Payment made: the money has moved.",
    "payment-sent": "Payment sent to the beneficiary's bank.",
    "payment-pending": "Payment prepared. It waits for approval; its amount is held meanwhile.",
    "payment-scheduled": "Payment scheduled: its amount is held until it executes on its date.",
    "payment-replayed": "This form had already been sent: the payment was made once and not again.",
    "approved": "Approved. The payment still waits for the approvals it needs.",
    "version-approved": "Version approved. Someone other than its author may now activate it.",
    "version-rejected": "Version rejected.",
    "version-activated": "Version activated: every server process switches to it within seconds.",
    "rollout-step": "Done: the tenants it reaches run the version within seconds, everywhere.",
    "tenant-moved": "Done: the tenant runs its new policy within seconds, in every server process.",
    "approved-posted": "Approved. That was the last approval needed: the payment is posted.",
    "approved-sent": "Approved. That was the last approval needed: the payment is sent.",
    "approved-scheduled": (
        "Approved. That was the last approval needed: the payment executes on its date."
    ),
    "approval-replayed": "This approval had already been given: it counts once.",
    "payment-rejected": "Payment rejected. Its hold is released.",
    "payment-cancelled": "Payment cancelled. Its hold is released.",
    "batch-pending_approval": (
        "Payment file taken. Its payments wait for approval as one; their total is held."
    ),
    "batch-approved": "Approved: every payment of the file is made.",
    "batch-replayed": "This form had already been sent: the file was taken once and not again.",
    "batch-approval-replayed": "This approval had already been given: it counts once.",
    "batch-rejected": "Payment file rejected: nothing of it is paid, its hold is released.",
    "batch-cancelled": "Payment file cancelled: nothing of it is paid, its hold is released.",
    "rules-saved": "Approval rules saved.",
    "minimums-saved": "The bank's approval minimums saved.",
    "beneficiary-added": "Beneficiary added.",
    "beneficiary-pending": (
        "Beneficiary added. Nothing can be paid to it until another person approves it."
    ),
    "beneficiary-approved": "Beneficiary approved: it can be paid now.",
    "beneficiary-deleted": "Beneficiary deleted.",
    "tenant-updated": "Payment rules saved.",
    "bank-updated": "Bank settings saved.",
    "maintenance-announced": "Maintenance window announced.",
    "maintenance-cancelled": "Maintenance window cancelled.",
    "change-requested": (
        "Sent for approval: dual administration is on, so this change applies only once a "
        "second person approves it."
    ),
    "change-applied": "Approved: the change is applied.",
    "change-refused": (
        "Approved, but the change no longer fits (see why below): nothing of it was applied."
    ),
    "change-rejected": "Change request rejected: nothing of it was applied.",
    "change-replayed": "This approval had already been given: the change was applied once.",
    "totp-removed": "Authenticator app removed: you sign in with your password alone.",
}

ACTION_LABELS = {
    "transfer.create": "Transfer",
    "deposit.create": "Deposit",
    "withdrawal.create": "Withdrawal",
    "account.manage": "Account change",
    "user.manage": "User change",
    "role.manage": "Role change",
    "grant.manage": "Grant change",
    "cap.manage": "Cap change",
    "tenant.manage": "Customer change",
    "beneficiary.manage": "Beneficiary change",
    "beneficiary.approve": "Beneficiary approval",
    "payment.create": "Payment",
    "payment.approve": "Payment approval",
    "payment.reject": "Payment rejection",
    "payment.cancel": "Payment cancellation",
    # What became of a payment one prepared (steps in one's activity, not actions).
    "payment.posted": "Payment posted",
    "payment.sent": "Payment sent",
    "payment.scheduled": "Payment scheduled",
    "payment.expired": "Payment expired",
    "payment.failed": "Payment failed",
    "payment.cancelled": "Payment cancelled",
    "approval_rule.manage": "Approval rules change",
    "approval_minimum.manage": "Approval minimums change",
    "maintenance_window.manage": "Maintenance window change",
    "console.sign_in": "Signed in to the console",
    "console.sign_out": "Signed out of the console",
}


def condition_labels() -> dict[str, str]:
    """Each check of an explanation in words, by its reason: the policy's words
    (vocabulary.polar: condition_text), read once per loaded policy."""
    return _condition_labels(policy_engine.current())


@functools.lru_cache(maxsize=4)  # a reload builds a new engine: keep only the latest few
def _condition_labels(engine: policy_engine.PolicyEngine) -> dict[str, str]:
    return condition_texts(engine)


LIMIT_LABELS = {"per_transfer": "Per transfer", "daily": "Daily", "monthly": "Monthly"}
LEVEL_LABELS = {"grant": "grant", "role": "role", "tenant": "company cap", "bank": "bank cap"}


def money(minor: int | None, currency: str | None) -> str:
    if minor is None:
        return ""
    return format_amount(minor, currency or "EUR")


def decimal_text(minor: int | None, currency: str, *, grouped: bool = False) -> str:
    """Minor units as the decimal a person types back into a form: 123450 EUR -> "1234.50"
    ("1,234.50" grouped, where thresholds run to many digits)."""
    if minor is None:
        return ""
    exponent = MINOR_UNITS.get(currency, 2)
    # divmod of the magnitude: divmod(-123450, 100) is (-1235, 50), which reads -1235.50.
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**exponent)
    digits = f"{whole:,}" if grouped else str(whole)
    return f"{sign}{digits}.{fraction:0{exponent}d}" if exponent else f"{sign}{digits}"


def local_time(value: dt.datetime | None, zone: str = "UTC", fmt: str = "%d %b %Y, %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def reason_text(code: str | None) -> str:
    """A refusal or error code in plain words."""
    if not code:
        return ""
    # A company's own reason (tenant_rule:<name>) is worded as its family; the activity and
    # the decision log show its own sentence beside it.
    code = family(code)
    if code in REASONS:
        return REASONS[code][1]
    if code in ERROR_CODES:
        return ERROR_CODES[code][1]
    return code.replace("_", " ").capitalize() + "."


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


# What a payment's kind, or an approval rule's, says to a person.
PAYMENT_KINDS = {
    "any": "any payment",
    "own": "to the company's own accounts",
    "internal": "to other customers of the bank",
    "external": "to other banks",
}
PAYMENT_STATUSES = {
    "pending_approval": "Awaiting approval",
    "scheduled": "Scheduled",
    "posted": "Posted",
    "sent": "Sent",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "expired": "Expired",
    "failed": "Failed",
}


def rule_text(rule: dict[str, Any]) -> str:
    """An approval rule as the change log shows it: "EUR from 10,000.00 EUR, any payment:
    2 approvals, 1 from group A"."""
    currency = str(rule.get("currency") or "EUR")
    approvals, group_a = int(rule.get("approvals") or 0), int(rule.get("group_a") or 0)
    text = (
        f"from {format_amount(int(rule.get('min_amount') or 0), currency)}, "
        f"{PAYMENT_KINDS.get(str(rule.get('kind')), str(rule.get('kind')))}"
        + (f" from account no. {rule['account_id']}" if rule.get("account_id") else "")
        + f": {approvals} approval{'s' if approvals != 1 else ''}"
    )
    return text + (f", {group_a} from group A" if group_a else "")


def upper_first(text: str) -> str:
    """A service's words as the start of a sentence (Jinja's capitalize lowers the rest:
    "group A" would read "group a")."""
    return text[:1].upper() + text[1:]


def change_value(value: Any, key: str, record: dict[str, Any]) -> str:
    """One field of a change record (stored as JSON), as a compliance officer reads it:
    amounts in their currency, windows and limits in words."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "limits" and isinstance(value, dict):
        currency = value.get("currency") or "EUR"
        parts = [
            f"{LIMIT_LABELS[kind].lower()} {format_amount(value[kind], currency)}"
            for kind in LIMIT_LABELS
            if isinstance(value.get(kind), int)
        ]
        return ", ".join(parts) or "none"
    if key in LIMIT_LABELS and isinstance(value, int) and isinstance(record.get("currency"), str):
        return format_amount(value, record["currency"])
    # An approver's limit is in the grant's limit currency.
    limits = record.get("limits")
    if (
        key in ("approval_limit", "approval_daily_limit")
        and isinstance(value, int)
        and isinstance(limits, dict)
    ):
        return format_amount(value, str(limits.get("currency") or "EUR"))
    if key == "window" and isinstance(value, dict):
        days = ", ".join(str(d).capitalize() for d in value.get("days", []))
        return f"{days} {value.get('start')}–{value.get('end')} {value.get('time_zone')}"
    if key == "rules" and isinstance(value, list):
        return "; ".join(rule_text(r) for r in value if isinstance(r, dict)) or "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def iban_text(iban: str | None) -> str:
    """An IBAN in groups of four, as people read it."""
    return formatted(iban) if iban else ""


_env.filters.update(
    iban=iban_text,
    money=money,
    decimal=decimal_text,
    local=local_time,
    reason=reason_text,
    action_label=action_label,
    change_value=change_value,
    upper_first=upper_first,
)
_env.globals.update(
    console=PREFIX,
    condition_labels=condition_labels,
    limit_labels=LIMIT_LABELS,
    level_labels=LEVEL_LABELS,
    payment_kinds=PAYMENT_KINDS,
    payment_statuses=PAYMENT_STATUSES,
)


def url(path: str, **query: Any) -> str:
    """A console URL; query values that are None or "" are left out."""
    params = {k: v for k, v in query.items() if v is not None and v != ""}
    return f"{PREFIX}{path}" + (f"?{urlencode(params)}" if params else "")


_env.globals["url"] = url


def _html(request: Request, name: str, values: dict[str, Any], status: int) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, values, status_code=status)
    # Banking pages are not kept by the browser or any cache on the way.
    response.headers["Cache-Control"] = "no-store"
    return response


def render(
    request: Request,
    session: Session,
    ctx: RequestContext,
    name: str,
    *,
    status: int = 200,
    ws: Workspace | None = None,
    **values: Any,
) -> HTMLResponse:
    """A console page in its frame: the signed-in person and the sections they may open."""
    done = request.query_params.get("done")
    frame = {
        "ws": ws or workspace(session, ctx),
        "maintenance": maintenance_window(request),
        "notice": NOTICES.get(done or ""),
        "title": values.pop("title", ""),
    }
    return _html(request, name, {**frame, **values}, status)


def render_public(request: Request, name: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """A page for someone not signed in (the sign-in page)."""
    done = request.query_params.get("done")
    frame = {
        "ws": None,
        "notice": NOTICES.get(done or ""),
        "maintenance": maintenance_window(request),
    }
    return _html(request, name, {**frame, **values}, status)


ERROR_TITLES = {
    400: "Something is wrong with this request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not possible here",
    409: "Not possible right now",
    413: "Too large",
    422: "Something is wrong with this request",
    429: "Too many attempts",
    503: "Temporarily unavailable",
}


def error_page(request: Request, status: int, code: str, detail: str) -> HTMLResponse:
    title = ERROR_TITLES.get(status, "Something went wrong")
    return _html(
        request,
        "error.html",
        {
            "ws": None,
            "notice": None,
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
        },
        status,
    )


def sent_for_approval(outcome: Governed[Any]) -> RedirectResponse | None:
    """After a governed change that became a change request (dual administration): its page,
    saying it was sent for approval; None when the change was applied."""
    if outcome.request is None:
        return None
    return redirect(f"/change-requests/{outcome.request.id}", done="change-requested")


def redirect(path: str, *, done: str | None = None, **query: Any) -> RedirectResponse:
    """After a form succeeds: see the result on a page of its own (a reload does not post
    the form again)."""
    response = RedirectResponse(url(path, done=done, **query), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response
