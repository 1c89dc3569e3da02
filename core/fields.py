"""Field types the schemas of every domain share: ids, currency codes, and what makes typed
text plain. Bottom of the core: it imports nothing of Mandate's but money."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from core.money import is_currency, unknown_currency


def _known_currency(code: str) -> str:
    if not is_currency(code):
        raise PydanticCustomError("unknown_currency", "{why}", {"why": unknown_currency(code)})
    return code


# The range and pattern are checked by the validators (so each failure has its own error
# code) and declared in the schema (so the OpenAPI document tells clients).
CurrencyCode = Annotated[
    str,
    AfterValidator(_known_currency),
    Field(
        description="ISO 4217 code in upper case, e.g. EUR (eur is refused)",
        examples=["EUR"],
        json_schema_extra={"pattern": "^[A-Z]{3}$", "minLength": 3, "maxLength": 3},
    ),
]
# Ids are 32-bit in the database; anything beyond cannot exist, so it is refused up front.
MAX_ID = 2**31 - 1
ResourceId = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    # Pydantic takes a date-time at midnight for a date ("2026-12-02T00:00:00", even with a
    # zone): a client that sends one means an instant, and its day is a guess.
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise PydanticCustomError("date_parsing", "a date is YYYY-MM-DD, without a time")
    return value


# The calendar the platform computes in. A day is turned into instants in a company's zone
# and the day after it is taken (a statement's period, a daily limit); an instant is turned
# into UTC and into local time. At year 1 or 9999 that overflows (a 500), so every date and
# date-time the API takes lies within these years; "no end" is null, not 9999-12-31.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(9998, 12, 31)
OUT_OF_RANGE = f"dates run from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"


def in_calendar(day: dt.date) -> bool:
    """Whether a day lies within the calendar the platform computes in."""
    return FIRST_DAY <= day <= LAST_DAY


def _within_calendar(day: dt.date) -> dt.date:
    if not in_calendar(day):
        raise PydanticCustomError("date_out_of_range", OUT_OF_RANGE)
    return day


# A calendar day as the document says (format: date), and nothing else.
CalendarDate = Annotated[dt.date, BeforeValidator(_iso_date), AfterValidator(_within_calendar)]


def _instant(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise PydanticCustomError(
            "naive_datetime", "give a time zone, e.g. 2026-12-01T09:00:00+01:00"
        )
    _within_calendar(value.date())
    _within_calendar(value.astimezone(dt.UTC).date())  # safe: a day away from year 1 and 9999
    return value


# One rule for every time the API takes: it carries its offset (Z or +01:00), never guessed,
# and lies within the calendar above. Instant may be null; RequiredInstant may not.
RequiredInstant = Annotated[
    dt.datetime,
    AfterValidator(_instant),
    Field(
        description="ISO 8601 with an offset (Z or +01:00); a time without one is refused "
        f"(naive_datetime), and {OUT_OF_RANGE} (date_out_of_range)"
    ),
]
Instant = Annotated[
    dt.datetime | None,
    AfterValidator(_instant),
    Field(
        description="ISO 8601 with an offset (Z or +01:00); a time without one is refused "
        f"(naive_datetime), and {OUT_OF_RANGE} (date_out_of_range)"
    ),
]


# Text a person types is one line of visible characters. Refused anywhere in it: control
# characters (C0 with tab and line feed, DEL, C1: ESC sequences recolour a terminal, a line
# break forges a line in a log or a statement), line and paragraph separators, unpaired
# surrogates (no database can store them) and the bidirectional controls (Unicode's
# Bidi_Control: they reorder what a screen shows, "Acme\u202eLTD" reads differently from what
# it is). Other format characters (category Cf: zero-width joiners, soft hyphens) belong to
# some scripts and stay, but text of nothing else is blank.
REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# The same, as the OpenAPI document tells clients (ECMA-262 syntax).
PLAIN_TEXT_PATTERN = (
    "^[^\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u2028-\\u202E\\u2066-\\u2069"
    "\\uD800-\\uDFFF]*$"
)


def refused_character(text: str) -> str | None:
    """The first character plain text may not carry, or None."""
    for character in text:
        if character in BIDI_CONTROLS or unicodedata.category(character) in REFUSED_CATEGORIES:
            return character
    return None


def is_blank(text: str) -> bool:
    """Nothing a reader would see: white space and format characters only (or nothing)."""
    return all(c.isspace() or unicodedata.category(c) == "Cf" for c in text)


def _plain(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # the string schema refuses it
    character = refused_character(value)
    if character is not None:
        raise PydanticCustomError(
            "invalid_text",
            "text may not contain control characters, line breaks or bidirectional "
            "formatting characters (U+{code})",
            {"code": f"{ord(character):04X}"},
        )
    return "" if is_blank(value) else value


class PlainText:
    """Marks a text field as plain text, after its length and stripping constraints:
    `Annotated[str, StringConstraints(...), PLAIN_TEXT]`. A refused character is 422
    invalid_text naming the field; blank text becomes "", so a required field's min_length
    (or a service's own check, such as reason_required) refuses it as empty."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_before_validator_function(_plain, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        described = handler(schema)
        described["pattern"] = PLAIN_TEXT_PATTERN
        return described


PLAIN_TEXT = PlainText()

__all__ = [
    "MAX_ID",
    "OUT_OF_RANGE",
    "PLAIN_TEXT",
    "CalendarDate",
    "CurrencyCode",
    "Instant",
    "PlainText",
    "ResourceId",
    "in_calendar",
    "is_blank",
    "refused_character",
]
