"""Reading amounts typed by people: bounded before any arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.money import MAX_AMOUNT_TEXT, parse_amount

HOSTILE = [
    "9e999997",  # 29 s of CPU turning it into an int
    "1e1000000",  # decimal.Overflow: a 500
    "1e-1000000",
    "1" * 10_000,
    "1" * (MAX_AMOUNT_TEXT + 1),
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "1e100",
    "0x10",
    "1.2.3",
    "",
    "  ",
    "+-1",
    "١٢٣",  # Arabic-Indic digits: Decimal reads them, a bank's form does not
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: t[:16])
def test_hostile_amount_text_is_a_value_error(text):
    with pytest.raises(ValueError):
        parse_amount(text, "EUR")


@pytest.mark.parametrize(
    "text,currency,minor",
    [
        ("1,234.50", "EUR", 123450),
        ("12", "EUR", 1200),
        (".5", "EUR", 50),
        ("1_000", "JPY", 1000),
        ("1.234", "KWD", 1234),
        ("1e3", "EUR", 100000),
        ("1.5E+2", "EUR", 15000),
        ("-5", "EUR", -500),
        ("-0", "EUR", 0),
        ("9" * 40, "EUR", int("9" * 40) * 100),
    ],
)
def test_amounts_people_type(text, currency, minor):
    assert parse_amount(text, currency) == minor


def test_too_many_decimal_places_says_so():
    with pytest.raises(ValueError, match="EUR has 2 decimal places"):
        parse_amount("1e-99", "EUR")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_an_int_or_a_value_error(text):
    try:
        value = parse_amount(text, "EUR")
    except ValueError:
        return
    assert isinstance(value, int)
    assert len(str(abs(value))) <= MAX_AMOUNT_TEXT + 110
