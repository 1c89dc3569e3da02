"""Reading a pain.001 file (ISO 20022 CustomerCreditTransferInitiation): untrusted XML from
outside the bank, read safely, validated against the schema of its version, and turned into
the credit transfers it asks for. Pure: no database, no decision.

Safety, in this order: the body was capped while it was read (api.middleware: at most
MAX_FILE_BYTES, a larger Content-Length refused before reading); defusedxml parses it first
and refuses any DTD, entity declaration or external reference (an XML bomb, "billion
laughs", never expands: 422 xml_forbidden); only then lxml parses it again, with entities,
DTDs and the network off, to validate it against the XSD its namespace names (the XSDs of the
versions accepted ship in core/batches/schemas: nothing is fetched). More than
MAX_TRANSFERS credit transfers is refused before the schema is asked (422
batch_too_many_items).

Accepted versions: pain.001.001.09 (the current one banks ask for) and pain.001.001.03 (what
most ERP software still writes, sepaxml's default). A file pays from one account on one
requested execution date: several payment information blocks are read, but they must agree
(422 batch_not_one_account otherwise)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeTree
from lxml import etree

from core.errors import InvalidRequest

SCHEMAS = Path(__file__).with_name("schemas")
VERSIONS = ("pain.001.001.09", "pain.001.001.03")
NAMESPACE_PREFIX = "urn:iso:std:iso:20022:tech:xsd:"
# 10 MiB: about 14,000 credit transfers as ERP software writes them, twice the most a batch
# takes (MAX_TRANSFERS); anything larger is refused while it is read (413).
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TRANSFERS = 5_000
# Schema errors told back: the first few are enough to fix a file.
ERRORS_TOLD = 5


@dataclass(frozen=True)
class CreditTransfer:
    """One CdtTrfTxInf as the file gives it (text: each item is checked on its own)."""

    position: int
    end_to_end_id: str
    creditor_name: str
    creditor_iban: str
    amount: str
    currency: str
    reference: str


@dataclass(frozen=True)
class PaymentFile:
    """What a valid pain.001 file asks for."""

    version: str
    msg_id: str
    sha256: str
    debtor_iban: str
    execution_date: dt.date | None
    transfers: tuple[CreditTransfer, ...]


def read_file(data: bytes) -> PaymentFile:
    """The file's credit transfers, or the refusal of the file as a whole, 422: xml_malformed,
    xml_forbidden, unsupported_file_version, batch_too_many_items, file_not_schema_valid,
    batch_not_one_account, control_sum_mismatch. (The HTTP body, bytes, was fine: what it
    holds is not a file Mandate can take.)"""
    version = _screened(data)
    document = _validated(data, version)
    return _extracted(document, version, hashlib.sha256(data).hexdigest())


def _screened(data: bytes) -> str:
    """Parse with defusedxml (no DTD, no entities, no external references) and answer the
    file's pain.001 version, from its namespace."""
    try:
        root = SafeTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InvalidRequest(
            "the file declares a DTD, entities or external references: a payment file may "
            "not (untrusted XML is never expanded)",
            code="xml_forbidden",
        ) from exc
    except (SafeTree.ParseError, LookupError, ValueError) as exc:
        # LookupError, ValueError: an encoding Python does not know, or a multi-byte one the
        # parser cannot read ("bogus", "UTF-7").
        raise InvalidRequest(
            f"the file is not well-formed XML: {exc}", code="xml_malformed"
        ) from exc
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    version = namespace.removeprefix(NAMESPACE_PREFIX)
    if not namespace.startswith(NAMESPACE_PREFIX) or version not in VERSIONS:
        raise InvalidRequest(
            f"not a payment file Mandate takes: a pain.001 Document of version "
            f"{' or '.join(VERSIONS)} (its namespace {NAMESPACE_PREFIX}<version>)",
            code="unsupported_file_version",
        )
    transfers = sum(1 for element in root.iter(f"{{{namespace}}}CdtTrfTxInf"))
    if transfers > MAX_TRANSFERS:
        raise InvalidRequest(
            f"the file holds {transfers:,} credit transfers; a batch takes at most "
            f"{MAX_TRANSFERS:,}: split it into several files",
            code="batch_too_many_items",
        )
    return version


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, dtd_validation=False
)


@cache
def _schema(version: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / f"{version}.xsd"), _PARSER))


def _validated(data: bytes, version: str) -> Any:
    document = etree.fromstring(data, _PARSER)
    schema = _schema(version)
    if schema.validate(document):
        return document
    told = "; ".join(f"line {e.line}: {e.message}" for e in list(schema.error_log)[:ERRORS_TOLD])
    raise InvalidRequest(
        f"the file is not a valid {version} document: {told}", code="file_not_schema_valid"
    )


class _Reader:
    """Texts out of a validated document, by element names in its namespace."""

    def __init__(self, version: str) -> None:
        self.ns = {"p": NAMESPACE_PREFIX + version}

    def all(self, element: Any, path: str) -> list[Any]:
        return list(element.xpath(path, namespaces=self.ns))

    def text(self, element: Any, path: str) -> str:
        found = self.all(element, path)
        return str(found[0].text or "").strip() if found else ""


def _extracted(document: Any, version: str, sha256: str) -> PaymentFile:
    read = _Reader(version)
    blocks = read.all(document, "p:CstmrCdtTrfInitn/p:PmtInf")
    debtors = {read.text(block, "p:DbtrAcct/p:Id/p:IBAN") for block in blocks}
    dates = {_execution_date(read, block) for block in blocks}
    if len(debtors) != 1 or len(dates) != 1:
        raise InvalidRequest(
            "a batch pays from one account on one execution date: this file's payment "
            "information blocks name several",
            code="batch_not_one_account",
        )
    transfers = tuple(
        _transfer(read, position, element)
        for position, element in enumerate(
            (t for block in blocks for t in read.all(block, "p:CdtTrfTxInf")), start=1
        )
    )
    header = read.all(document, "p:CstmrCdtTrfInitn/p:GrpHdr")[0]
    _check_control(read.text(header, "p:NbOfTxs"), read.text(header, "p:CtrlSum"), transfers)
    debtor = debtors.pop()
    if not debtor:
        raise InvalidRequest(
            "the file names its account by an IBAN (DbtrAcct/Id/IBAN)",
            code="batch_not_one_account",
        )
    return PaymentFile(
        version=version,
        msg_id=read.text(header, "p:MsgId"),
        sha256=sha256,
        debtor_iban=debtor,
        execution_date=dates.pop(),
        transfers=transfers,
    )


def _execution_date(read: _Reader, block: Any) -> dt.date | None:
    """ReqdExctnDt: a date (pain.001.001.03), or Dt / DtTm (.09)."""
    text = read.text(block, "p:ReqdExctnDt/p:Dt") or read.text(block, "p:ReqdExctnDt")
    text = text or read.text(block, "p:ReqdExctnDt/p:DtTm")[:10]
    return dt.date.fromisoformat(text[:10]) if text else None


def _transfer(read: _Reader, position: int, element: Any) -> CreditTransfer:
    amount = read.all(element, "p:Amt/p:InstdAmt")
    return CreditTransfer(
        position=position,
        end_to_end_id=read.text(element, "p:PmtId/p:EndToEndId"),
        creditor_name=read.text(element, "p:Cdtr/p:Nm"),
        creditor_iban=read.text(element, "p:CdtrAcct/p:Id/p:IBAN"),
        amount=str(amount[0].text or "").strip() if amount else "",
        currency=str(amount[0].get("Ccy", "")) if amount else "",
        reference=" ".join(read.text(element, "p:RmtInf/p:Ustrd").split()),
    )


def _check_control(count: str, control_sum: str, transfers: tuple[CreditTransfer, ...]) -> None:
    """The group header's NbOfTxs (and CtrlSum, when given) match the transfers: a file cut
    short on its way says so."""
    if count != str(len(transfers)):
        raise InvalidRequest(
            f"the file's header counts {count} transactions, it holds {len(transfers)}",
            code="control_sum_mismatch",
        )
    if not control_sum:
        return
    try:
        summed = sum((Decimal(t.amount) for t in transfers), Decimal(0))
        matches = summed == Decimal(control_sum)
    except InvalidOperation:
        matches = False
    if not matches:
        raise InvalidRequest(
            f"the file's header says its amounts sum to {control_sum}; they do not",
            code="control_sum_mismatch",
        )
