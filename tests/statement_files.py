"""Reading statement exports back, independently of how Mandate writes them: camt.053 is
checked against the official XSD (lxml) and read by pycamt, CSV by the csv module; amounts
come back as minor units through Decimal, never through Mandate's own helpers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from lxml import etree
from pycamt.parser import Camt053Parser

from core.statements.camt053 import SCHEMA

_XSD = etree.XMLSchema(etree.parse(str(SCHEMA)))


def minor(text: str, exponent: int = 2) -> int:
    return int(Decimal(text) * 10**exponent)


def assert_valid_camt053(document: bytes) -> None:
    tree = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))
    assert _XSD.validate(tree), _XSD.error_log


def read_camt053(document: bytes) -> dict[str, Any]:
    """Opening and closing balance and the entries (amount signed, in minor units), as
    pycamt reads them, after checking the document against the XSD."""
    assert_valid_camt053(document)
    parser = Camt053Parser(document)
    assert parser.version == "camt.053.001.08"
    [info] = parser.get_statement_info()
    entries = [
        {
            "transfer_id": int(t["TransactionID"]),
            "amount": minor(t["Amount"]) * (-1 if t["CreditDebitIndicator"] == "DBIT" else 1),
            "currency": t["Currency"],
            "booking_date": t["BookingDate"],
            "counterparty_name": t.get(
                "CreditorName" if t["CreditDebitIndicator"] == "DBIT" else "DebtorName"
            ),
            "reference": t.get("RemittanceInformation"),
        }
        for t in parser.get_transactions()
    ]
    return {
        "iban": info["IBAN"],
        "opening": minor(info["OpeningBalance"]),
        "closing": minor(info["ClosingBalance"]),
        "entries": entries,
    }


def read_csv(document: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(document.decode("utf-8"))))
