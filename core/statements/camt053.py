"""A statement as ISO 20022 camt.053.001.08 (BankToCustomerStatementV08), written a page of
entries at a time.

The document's head (group header, statement, account, opening and closing booked balances)
is written first: both balances are known when the export starts (core.statements.export).
Each entry is then built as an element of its own and serialised by xml.etree, which escapes
every text and attribute; nothing is pasted in by hand. The schema the files are valid against
ships beside this module (schema/camt.053.001.08.xsd, its origin in schema/ORIGIN.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from importlib.resources import files
from xml.etree.ElementTree import Element, SubElement, tostring

from core.money import decimal_amount
from core.statements.export import StatementExport
from core.statements.lines import StatementLine

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
SCHEMA = files("core.statements") / "schema" / "camt.053.001.08.xsd"
# Max70Text: an account's name in CashAccount39.
_ACCOUNT_NAME_LENGTH = 70
# Bank transaction codes (ISO 20022 external code list): a book transfer between accounts of
# the bank, or money through its clearing account.
_SUB_FAMILY = {"transfer": "BOOK", "payment": "BOOK", "deposit": "OTHR", "withdrawal": "OTHR"}


def _text(parent: Element, tag: str, text: str, **attributes: str) -> Element:
    element = SubElement(parent, tag, attributes)
    element.text = text
    return element


def _path(parent: Element, tags: str, text: str) -> Element:
    """`tags` ("Tp/CdOrPrtry/Cd") nested under `parent`, the last holding `text`."""
    *outer, last = tags.split("/")
    for tag in outer:
        parent = SubElement(parent, tag)
    return _text(parent, last, text)


def _amount(parent: Element, minor: int, currency: str) -> None:
    _text(parent, "Amt", decimal_amount(abs(minor), currency), Ccy=currency)
    _text(parent, "CdtDbtInd", "DBIT" if minor < 0 else "CRDT")


def _serialise(element: Element) -> bytes:
    return tostring(element, encoding="utf-8", xml_declaration=False)


def _moment(moment: dt.datetime) -> str:
    return moment.replace(microsecond=0).isoformat()


def _balance(code: str, minor: int, export: StatementExport, day: dt.date) -> bytes:
    balance = Element("Bal")
    _path(balance, "Tp/CdOrPrtry/Cd", code)
    _amount(balance, minor, export.currency)
    _path(balance, "Dt/Dt", day.isoformat())
    return _serialise(balance)


def _head(export: StatementExport) -> bytes:
    created = _moment(export.created_at)
    stamp = export.created_at.strftime("%Y%m%d%H%M%S")
    header = Element("GrpHdr")
    _text(header, "MsgId", f"MANDATE-{export.account_id}-{stamp}")
    _text(header, "CreDtTm", created)
    statement = Element("Stmt")
    _text(
        statement, "Id", f"{export.account_id}-{export.first_day:%Y%m%d}-{export.last_day:%Y%m%d}"
    )
    _text(statement, "CreDtTm", created)
    period = SubElement(statement, "FrToDt")
    start = dt.datetime.combine(export.first_day, dt.time(), export.zone)
    _text(period, "FrDtTm", _moment(start))
    _text(period, "ToDtTm", _moment(dt.datetime.combine(export.last_day, dt.time.max, export.zone)))
    account = SubElement(statement, "Acct")
    if export.iban:
        _path(account, "Id/IBAN", export.iban)
    else:
        _path(account, "Id/Othr/Id", str(export.account_id))
    _text(account, "Ccy", export.currency)
    _text(account, "Nm", export.account_name[:_ACCOUNT_NAME_LENGTH])
    _path(account, "Svcr/FinInstnId/Nm", export.bank_name)
    # The statement element stays open: its entries follow. Its serialised children are
    # written out and the closing tags come at the end of the file.
    inner = b"".join(_serialise(child) for child in statement)
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + f'<Document xmlns="{NAMESPACE}"><BkToCstmrStmt>'.encode()
        + _serialise(header)
        + b"<Stmt>"
        + inner
        + _balance("OPBD", export.opening_balance, export, export.first_day)
        + _balance("CLBD", export.closing_balance, export, export.last_day)
    )


def _parties(details: Element, line: StatementLine) -> None:
    counterparty = line.counterparty
    if not (counterparty.name or counterparty.iban):
        return
    parties = SubElement(details, "RltdPties")
    # Money out: the counterparty is the creditor; money in: the debtor.
    role = "Cdtr" if line.amount < 0 else "Dbtr"
    if counterparty.name:
        _path(parties, f"{role}/Pty/Nm", counterparty.name)
    if counterparty.iban:
        _path(parties, f"{role}Acct/Id/IBAN", counterparty.iban)


def entry_element(line: StatementLine) -> Element:
    """One entry (Ntry) with its one transaction's details and references."""
    entry = Element("Ntry")
    _text(entry, "NtryRef", str(line.entry_id))
    _amount(entry, line.amount, line.currency)
    _path(entry, "Sts/Cd", "BOOK")
    day = line.booked_on.isoformat()
    _path(entry, "BookgDt/Dt", day)
    _path(entry, "ValDt/Dt", day)
    _text(entry, "AcctSvcrRef", str(line.transfer_id))
    domain = SubElement(SubElement(entry, "BkTxCd"), "Domn")
    _text(domain, "Cd", "PMNT")
    family = SubElement(domain, "Fmly")
    _text(family, "Cd", "ICDT" if line.amount < 0 else "RCDT")
    _text(family, "SubFmlyCd", _SUB_FAMILY[line.kind])
    details = SubElement(SubElement(entry, "NtryDtls"), "TxDtls")
    references = SubElement(details, "Refs")
    _text(references, "AcctSvcrRef", str(line.transfer_id))
    _text(
        references,
        "EndToEndId",
        "NOTPROVIDED" if line.payment_id is None else f"PAYMENT-{line.payment_id}",
    )
    _text(references, "TxId", str(line.transfer_id))
    _amount(details, line.amount, line.currency)
    _parties(details, line)
    if line.reference:
        _path(details, "RmtInf/Ustrd", line.reference)
    _text(entry, "AddtlNtryInf", line.kind)
    return entry


def camt053_file(export: StatementExport, pages: Iterable[list[StatementLine]]) -> Iterator[bytes]:
    """The document's bytes (UTF-8): its head, one chunk per page of entries, its end."""
    yield _head(export)
    for lines in pages:
        yield b"".join(_serialise(entry_element(line)) for line in lines)
    yield b"</Stmt></BkToCstmrStmt></Document>\n"
