"""The statement files without a database: every text escaped and read back as typed, the
document valid against the camt.053.001.08 XSD, amounts in each currency's minor digits, and
spreadsheet formulas defused in CSV."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from core.money import decimal_amount
from core.statements.camt053 import camt053_file
from core.statements.csv_file import csv_file, spreadsheet_safe
from core.statements.export import StatementExport, StatementFormat
from core.statements.lines import Counterparty, StatementLine
from tests.statement_files import read_camt053, read_csv

TRICKY = "Müller & Söhne <\"Ltd\"> 'quoted' ]]> 東京"


def _export(currency: str = "EUR", opening: int = -5_00, closing: int = 10_00) -> StatementExport:
    return StatementExport(
        account_id=7,
        tenant_id=1,
        account_name=TRICKY + " " + "x" * 90,
        iban="DE89370400440532013000",
        currency=currency,
        bank_name="Test & Bank",
        zone=ZoneInfo("Europe/Berlin"),
        first_day=dt.date(2026, 11, 1),
        last_day=dt.date(2026, 11, 30),
        format=StatementFormat.camt053,
        created_at=dt.datetime(2026, 12, 1, 8, 0, 0, 123456, tzinfo=dt.UTC),
        after_entry=0,
        through_entry=2,
        opening_balance=opening,
        closing_balance=closing,
    )


def _lines(currency: str = "EUR") -> list[StatementLine]:
    day = dt.date(2026, 11, 3)
    return [
        StatementLine(
            1,
            11,
            5,
            "payment",
            -3_45,
            currency,
            -8_45,
            day,
            Counterparty(TRICKY, "FR1420041010050500013M02606"),
            TRICKY,
        ),
        StatementLine(2, 12, None, "deposit", 18_45, currency, 10_00, day, Counterparty(), ""),
    ]


def test_camt053_escapes_every_text_and_is_valid():
    document = b"".join(camt053_file(_export(), [_lines()]))
    read = read_camt053(document)
    assert (read["opening"], read["closing"]) == (-5_00, 10_00)
    out, deposit = read["entries"]
    assert (out["amount"], deposit["amount"]) == (-3_45, 18_45)
    assert out["counterparty_name"] == out["reference"] == TRICKY
    assert deposit["counterparty_name"] is None and deposit["reference"] is None


@pytest.mark.parametrize(("currency", "exponent"), [("JPY", 0), ("KWD", 3)])
def test_amounts_carry_the_currencys_minor_digits(currency, exponent):
    document = b"".join(camt053_file(_export(currency), [_lines(currency)]))
    assert f'Ccy="{currency}">{decimal_amount(345, currency)}<'.encode() in document
    read = read_camt053(document)
    assert read["entries"][0]["currency"] == currency
    assert decimal_amount(-1234567, "KWD") == "-1234.567" and decimal_amount(5, "JPY") == "5"


def test_an_empty_period_is_a_valid_document():
    document = b"".join(camt053_file(_export(opening=0, closing=0), []))
    assert read_camt053(document)["entries"] == []


def test_csv_defuses_formulas_and_keeps_amounts_as_numbers():
    rows = read_csv(b"".join(csv_file([_lines()])))
    assert [r["amount"] for r in rows] == ["-3.45", "18.45"]
    assert rows[0]["counterparty_name"] == TRICKY and rows[0]["payment_id"] == "5"
    for formula in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(formula) == "'" + formula
    assert spreadsheet_safe("Invoice -1") == "Invoice -1"
