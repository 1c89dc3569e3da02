"""Reading console forms into the services' own input schemas, and putting a refusal's
message next to the field it is about. Amounts are typed as decimals and converted with
core.money.parse_amount; nothing here decides whether an action is allowed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.responses import Response

from admin.errors import FormRefused
from core.clock import DAY_NAMES
from core.context import RequestContext
from core.errors import ErrorCode, InvalidRequest, MandateError
from core.fields import MAX_ID, OUT_OF_RANGE, in_calendar
from core.iam.schemas import LimitSet, TimeWindow
from core.money import MAX_AMOUNT, MINOR_UNITS, format_amount, is_currency, parse_amount
from core.policy.reasons import Reason
from core.uow import UnitOfWork

LIMIT_FIELDS = ("per_transfer", "daily", "monthly")
APPROVAL_GROUPS = ("A", "B")


def field_of(code: str) -> str:
    """Which field of a form an error or refusal code is about (the codes carry it:
    ErrorCode.field, Reason.field); "" for the top of the form."""
    for codes in (Reason, ErrorCode):
        if code in codes.__members__:
            return codes[code].field
    return ""


# Refusals whose API wording speaks of headers and keys: what they mean for a person at a form.
CONSOLE_WORDS = {
    "idempotency_key_in_flight": (
        "This form is still being processed. Wait a moment, then send it again: it will not "
        "be carried out twice."
    ),
    "idempotency_key_reused": (
        "This form was already used for a different request. Check the details and send it again."
    ),
    "contention": "The bank is very busy on these accounts right now; send the form again.",
    "otp_required": "Enter the code your authenticator app shows, or a recovery code.",
    "invalid_otp": "That code is not right, or was used already: enter the one your app shows now.",
}


@dataclass
class Entry:
    """What a person typed into a form (to show it again), and what is wrong with it, field
    by field ("" for the form as a whole)."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def place(
        self,
        exc: MandateError,
        fields: tuple[str, ...],
        aliases: dict[str, str] | None = None,
    ) -> None:
        """Put a service's refusal next to the field it is about: its code's field, else the
        field the refusal names itself (a general code such as invalid_request), without the
        API's "field: " at the start of its message; `aliases` names this form's field for a
        code's (a payment's beneficiary stands where a transfer's to_account_id does)."""
        named = str(exc.context.get("field") or "")
        name = field_of(exc.code) or named
        detail = exc.detail.removeprefix(f"{named}: ") if named else exc.detail
        if name == "limits":
            # Which limit: the refusal's detail names its kind (per_transfer, daily, monthly).
            kind = (exc.context.get("refusal") or {}).get("kind")
            name = kind if kind in LIMIT_FIELDS else name
        name = (aliases or {}).get(name, name)
        self.error(name if name in fields else "", CONSOLE_WORDS.get(exc.code, sentence(detail)))

    def take_validation(self, exc: ValidationError) -> None:
        """Put a schema's complaints next to their fields (form fields are named like the
        schema's)."""
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if not isinstance(p, int)]
            # A check across fields (scope, validity) names no field: its code says which.
            name = loc[0] if loc else field_of(str(err.get("type")))
            self.error(name, sentence(str(err.get("msg", "invalid"))))


def sentence(text: str) -> str:
    """A service's or a schema's message as a sentence for a person: capital, full stop."""
    text = text.removeprefix("Value error, ")
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else text


def text(form: FormData, name: str, limit: int = 500) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def ident(form: FormData, name: str) -> int | None:
    value = text(form, name, 12)
    return int(value) if value.isdigit() and 1 <= int(value) <= MAX_ID else None


def whole_numbers(entry: Entry, typed: dict[str, str]) -> dict[str, int]:
    """The typed fields as whole numbers; each that is not one is marked beside its field
    (the schema then checks the range)."""
    numbers = {}
    for name, value in typed.items():
        if value.isdigit():
            numbers[name] = int(value)
        else:
            entry.error(name, "Enter a whole number.")
    return numbers


def new_key() -> str:
    """A fresh idempotency key for a money-moving form: the page carries it, so sending the
    form twice (a double click, a retry after a network error) makes one movement."""
    return str(uuid.uuid4())


def amount(
    entry: Entry,
    name: str,
    typed: str,
    currency: str | None,
    *,
    required: bool,
    zero: bool = False,
) -> int | None:
    """A decimal typed in a form, in minor units of `currency` (zero allowed if `zero`: a
    threshold "from 0.00" means every amount)."""
    if not typed:
        if required:
            entry.error(name, "Enter an amount.")
        return None
    if currency is None or not is_currency(currency):
        return None
    try:
        value = parse_amount(typed, currency)
    except ValueError as exc:
        message = str(exc)
        entry.error(
            name,
            sentence(message) if "decimal places" in message else "Enter an amount like 1,250.00.",
        )
        return None
    if value < 0 or (value == 0 and not zero):
        entry.error(
            name,
            "Enter an amount of zero or more." if zero else "Enter an amount greater than zero.",
        )
        return None
    if value > MAX_AMOUNT:
        entry.error(name, f"Enter an amount of at most {format_amount(MAX_AMOUNT, currency)}.")
        return None
    return value


def limits(entry: Entry, form: FormData) -> LimitSet | None:
    """Optional limits: a currency and up to three decimal amounts."""
    currency = text(form, "limit_currency", 3).upper()
    typed = {k: text(form, k, 40) for k in LIMIT_FIELDS}
    entry.values.update(limit_currency=currency, **typed)
    if not any(typed.values()):
        return None
    if not is_currency(currency):
        entry.error("limit_currency", "Choose the currency of the limits.")
        return None
    parsed = {k: amount(entry, k, v, currency, required=False) for k, v in typed.items()}
    try:
        return LimitSet(currency=currency, **parsed)
    except ValidationError as exc:
        entry.take_validation(exc)
        return None


def approval_group(entry: Entry, form: FormData) -> str | None:
    """An approver's signature group: A, B, or none ("")."""
    group = text(form, "approval_group", 1).upper()
    entry.values["approval_group"] = group
    if group and group not in APPROVAL_GROUPS:
        entry.error("approval_group", "Choose signature group A, B, or none.")
        return None
    return group or None


def approval_limit(entry: Entry, form: FormData, name: str = "approval_limit") -> int | None:
    """An approver's approval limit (or, `name` approval_daily_limit, their daily approval
    limit), a decimal in the currency of the form's limits (read first, by `limits`)."""
    typed = text(form, name, 40)
    entry.values[name] = typed
    currency = entry.values.get("limit_currency", "")
    if typed and not is_currency(currency):
        entry.error("limit_currency", "Choose the currency of the limits.")
        return None
    return amount(entry, name, typed, currency, required=False)


def window(entry: Entry, form: FormData) -> TimeWindow | None:
    """Optional time window: weekday checkboxes, local start and end, a time zone."""
    days = [d for d in form.getlist("days") if isinstance(d, str) and d in DAY_NAMES]
    start, end = text(form, "window_start", 5), text(form, "window_end", 5)
    zone = text(form, "window_zone", 64)
    entry.values.update(days=days, window_start=start, window_end=end, window_zone=zone)
    if not days and not start and not end:
        return None
    if not days:
        entry.error("window", "Tick the weekdays of the window.")
        return None
    if not start or not end:
        entry.error("window", "Give the window's start and end times.")
        return None
    try:
        return TimeWindow(days=days, start=start, end=end, time_zone=zone)
    except ValidationError as exc:
        for err in exc.errors():
            entry.error("window", sentence(str(err.get("msg", "invalid"))))
        return None


def local_datetime(entry: Entry, name: str, typed: str, zone: str) -> dt.datetime | None:
    """A datetime-local field, read in `zone`."""
    entry.values[name] = typed
    if not typed:
        return None
    try:
        naive = dt.datetime.fromisoformat(typed)
        moment = naive.replace(tzinfo=ZoneInfo(zone)) if naive.tzinfo is None else naive
        if not (in_calendar(moment.date()) and in_calendar(moment.astimezone(dt.UTC).date())):
            entry.error(name, sentence(OUT_OF_RANGE))
            return None
        return moment
    except (ValueError, KeyError):
        entry.error(name, "Enter a date and time.")
        return None


def local_date(entry: Entry, name: str, typed: str) -> dt.date | None:
    """A date field (YYYY-MM-DD); None when left empty."""
    entry.values[name] = typed
    if not typed:
        return None
    try:
        day = dt.date.fromisoformat(typed)
    except ValueError:
        entry.error(name, "Enter a date, such as 2026-12-24.")
        return None
    if not in_calendar(day):
        entry.error(name, sentence(OUT_OF_RANGE))
        return None
    return day


# Renders the form again, given what refused it (None: the form's own mistakes).
Again = Callable[[MandateError | None], Response]


def refuse(entry: Entry, again: Again) -> FormRefused:
    """The form has mistakes of its own (nothing was asked of a service)."""
    return FormRefused(
        InvalidRequest("; ".join(entry.errors.values()) or "the form has mistakes"), again(None)
    )


Body = TypeVar("Body")
Schema = TypeVar("Schema", bound=BaseModel)
# Reads a posted form into what its service takes (None, or mistakes in the Entry: the form
# is shown again). It may load what the form is about: a refusal there is the page's error.
Read = Callable[[Session, RequestContext, Entry], Body | None]
# The one service call the form asks for, and the answer (a redirect to what it did).
Act = Callable[[Session, RequestContext, Body], Response]
# The form again, with what was typed and what is wrong, answered with `status`.
Show = Callable[[Session, RequestContext, Entry, int], Response]


def build(entry: Entry, schema: type[Schema], **values: Any) -> Schema | None:
    """A service's input schema from a form's values; None, with the schema's complaints next
    to their fields, if it refuses them."""
    try:
        return schema(**values)
    except ValidationError as exc:
        entry.take_validation(exc)
        return None


def handle_form(
    uow: UnitOfWork,
    read: Read[Body],
    act: Act[Body],
    again: Show,
    *,
    fields: tuple[str, ...] = (),
    aliases: dict[str, str] | None = None,
) -> Response:
    """Answer a posted form in the request's unit of work (run again, from the start, on
    contention): read it; if it has mistakes, show it again (422); else ask the service, and
    if the service refuses, show the form again with the refusal next to its field (among
    `fields`, named as `aliases` says: Entry.place) and the refusal's status. Either way the
    unit of work rolls back and records the refusal, exactly as for the API."""
    return uow.run(submit_form, read, act, again, fields, aliases)


def submit_form(
    session: Session,
    ctx: RequestContext,
    read: Read[Body],
    act: Act[Body],
    again: Show,
    fields: tuple[str, ...] = (),
    aliases: dict[str, str] | None = None,
) -> Response:
    """handle_form's work, for a handler that loads what `again` needs in its own work."""
    entry = Entry()
    body = read(session, ctx, entry)
    if body is None or entry.errors:
        raise refuse(entry, lambda _: again(session, ctx, entry, 422))
    try:
        return act(session, ctx, body)
    except FormRefused:
        raise
    except MandateError as exc:
        if exc.code == Reason.step_up_required:
            # Not this form again: the step-up prompt, which sends it again with a code.
            raise
        if exc.code == ErrorCode.idempotency_key_reused and "idempotency_key" in entry.values:
            # The page was used for another request already: this one needs a fresh key.
            entry.values["idempotency_key"] = new_key()
        entry.place(exc, fields, aliases)
        raise FormRefused(exc, again(session, ctx, entry, exc.status)) from exc


COMMON_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "PLN", "SEK", "DKK", "NOK", "CZK", "JPY")


@cache
def time_zones() -> list[str]:
    """IANA zones for the time zone pickers, the common European ones first."""
    first = ["Europe/Berlin", "Europe/Vienna", "Europe/Paris", "Europe/London", "UTC"]
    rest = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
    return first + [z for z in rest if z not in first]


def currencies() -> list[str]:
    return list(COMMON_CURRENCIES) + sorted(set(MINOR_UNITS) - set(COMMON_CURRENCIES))
