"""Embedded e-invoices: the invoice XML a Factur-X, ZUGFeRD or XRechnung PDF carries.

Such a PDF is a picture of the invoice with the legal invoice attached: an XML in UN/CEFACT
Cross Industry Invoice (CII) or OASIS UBL syntax, under EN 16931's semantic model. Where it
is present its values are exact, so they are read from it instead of from the page and
grounded on the page afterwards (`pipeline/analysis.py`).

Values come out under the built-in invoice schema's field names, normalised as docfuse
normalises them: dates ISO, amounts plain decimals. Only what EN 16931 defines is read;
anything absent from the XML is left for the page. The XML is parsed by the standard
library's expat, which refuses external entities and limits entity expansion; files over
`MAX_XML_BYTES` are not parsed.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pipeline.fields.normalize import format_decimal

logger = logging.getLogger(__name__)

MAX_XML_BYTES = 20 * 1024 * 1024

_CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
_UBL_ROOTS = {
    "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2": "Invoice",
    "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2": "CreditNote",
}
_NS = {
    "rsm": _CII,
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}

# Field name -> (value type, path from the root), per syntax. Types are those of the
# invoice schema: "date" and "amount" are normalised, the rest kept as written.
_CII_SETTLEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement"
_CII_AGREEMENT = "rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeAgreement"
_CII_TOTALS = f"{_CII_SETTLEMENT}/ram:SpecifiedTradeSettlementHeaderMonetarySummation"
_CII_FIELDS = {
    "invoice_number": ("id", "rsm:ExchangedDocument/ram:ID"),
    "issue_date": ("date", "rsm:ExchangedDocument/ram:IssueDateTime/udt:DateTimeString"),
    "due_date": (
        "date",
        f"{_CII_SETTLEMENT}/ram:SpecifiedTradePaymentTerms/ram:DueDateDateTime/udt:DateTimeString",
    ),
    "vendor": ("string", f"{_CII_AGREEMENT}/ram:SellerTradeParty/ram:Name"),
    "customer": ("string", f"{_CII_AGREEMENT}/ram:BuyerTradeParty/ram:Name"),
    "currency": ("string", f"{_CII_SETTLEMENT}/ram:InvoiceCurrencyCode"),
    "subtotal": ("amount", f"{_CII_TOTALS}/ram:TaxBasisTotalAmount"),
    "tax": ("amount", f"{_CII_TOTALS}/ram:TaxTotalAmount"),
    "total": ("amount", f"{_CII_TOTALS}/ram:GrandTotalAmount"),
}
_CII_LINES = "rsm:SupplyChainTradeTransaction/ram:IncludedSupplyChainTradeLineItem"
_CII_LINE = {
    "description": ("string", "ram:SpecifiedTradeProduct/ram:Name"),
    "quantity": ("amount", "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity"),
    "unit_price": (
        "amount",
        "ram:SpecifiedLineTradeAgreement/ram:NetPriceProductTradePrice/ram:ChargeAmount",
    ),
    "amount": (
        "amount",
        "ram:SpecifiedLineTradeSettlement/"
        "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
    ),
}
_UBL_PARTY = "cac:Party/cac:PartyLegalEntity/cbc:RegistrationName"
_UBL_FIELDS = {
    "invoice_number": ("id", "cbc:ID"),
    "issue_date": ("date", "cbc:IssueDate"),
    "due_date": ("date", "cbc:DueDate"),
    "vendor": ("string", f"cac:AccountingSupplierParty/{_UBL_PARTY}"),
    "customer": ("string", f"cac:AccountingCustomerParty/{_UBL_PARTY}"),
    "currency": ("string", "cbc:DocumentCurrencyCode"),
    "subtotal": ("amount", "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount"),
    "tax": ("amount", "cac:TaxTotal/cbc:TaxAmount"),
    "total": ("amount", "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount"),
}
_UBL_LINE = {
    "description": ("string", "cac:Item/cbc:Name"),
    "quantity": ("amount", "cbc:InvoicedQuantity|cbc:CreditedQuantity"),
    "unit_price": ("amount", "cac:Price/cbc:PriceAmount"),
    "amount": ("amount", "cbc:LineExtensionAmount"),
}
# Where UBL puts the due date of a credit note, or of an invoice that gives it per payment.
_UBL_DUE_FALLBACK = "cac:PaymentMeans/cbc:PaymentDueDate"


@dataclass(frozen=True)
class EInvoice:
    """The values of one embedded invoice XML, by invoice field name."""

    syntax: str  # "CII" or "UBL"
    attachment: str  # the embedded file's name, e.g. factur-x.xml
    values: dict[str, str]

    @property
    def source(self) -> str:
        """How a result says where its value came from."""
        return f"e-invoice {self.syntax} ({self.attachment})"


def read_embedded_invoice(pdf: Path) -> EInvoice | None:
    """The first embedded file of `pdf` that is a CII or UBL invoice, or None. An attachment
    that cannot be read is logged and skipped: the page is still read as a picture."""
    import pymupdf  # imported when a PDF is read, not with the pipeline

    try:
        with pymupdf.open(pdf) as document:
            attachments = [(name, document.embfile_info(name)) for name in document.embfile_names()]
            for name, info in attachments:
                if info.get("size", 0) > MAX_XML_BYTES or not name.lower().endswith(".xml"):
                    continue
                invoice = parse_invoice_xml(document.embfile_get(name), name)
                if invoice is not None:
                    return invoice
    except (OSError, RuntimeError, ValueError, ElementTree.ParseError) as error:
        logger.warning("%s: embedded invoice XML not read: %s", pdf, error)
    return None


def parse_invoice_xml(data: bytes, attachment: str = "invoice.xml") -> EInvoice | None:
    """A CII or UBL invoice's values, or None for XML of another kind."""
    root = ElementTree.fromstring(data)
    namespace = root.tag[1:].split("}")[0] if root.tag.startswith("{") else ""
    if namespace == _CII:
        values = _values(root, _CII_FIELDS)
        if tax := _cii_tax(root, values.get("currency")):
            values["tax"] = tax
        lines = root.findall(_CII_LINES, _NS)
        syntax, line_paths = "CII", _CII_LINE
    elif namespace in _UBL_ROOTS:
        values = _values(root, _UBL_FIELDS)
        if "due_date" not in values and (due := _text(root, _UBL_DUE_FALLBACK)):
            values["due_date"] = _typed("date", due) or due
        lines = root.findall(f"cac:{_UBL_ROOTS[namespace]}Line", _NS)
        syntax, line_paths = "UBL", _UBL_LINE
    else:
        return None
    rows = [_values(line, line_paths) for line in lines]
    if rows:
        values["line_items"] = json.dumps(rows, ensure_ascii=False)
    return EInvoice(syntax, attachment, values)


def _cii_tax(root: ElementTree.Element, currency: str | None) -> str | None:
    """The tax total in the invoice's currency: CII repeats it in the tax currency when
    the two differ, each with its `currencyID`."""
    for total in root.findall(f"{_CII_TOTALS}/ram:TaxTotalAmount", _NS):
        if total.text and total.get("currencyID") in (None, currency):
            return _typed("amount", total.text.strip())
    return None


def _values(element: ElementTree.Element, paths: dict[str, tuple[str, str]]) -> dict[str, str]:
    values = {}
    for name, (value_type, path) in paths.items():
        text = _text(element, path)
        typed = _typed(value_type, text) if text else None
        if typed:
            values[name] = typed
    return values


def _text(element: ElementTree.Element, path: str) -> str:
    """The first non-empty text among `path`'s alternatives (separated by |), stripped and
    with runs of whitespace made single spaces."""
    for alternative in path.split("|"):
        found = element.find(alternative, _NS)
        if found is not None and found.text and found.text.strip():
            return " ".join(found.text.split())
    return ""


def _typed(value_type: str, text: str) -> str | None:
    """Dates as ISO (CII writes format 102, YYYYMMDD; UBL writes ISO already), amounts as
    plain decimals; other values as written."""
    if value_type == "date":
        digits = text.replace("-", "")
        try:
            return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])).isoformat()
        except ValueError:
            return None
    if value_type == "amount":
        try:
            return format_decimal(Decimal(text))
        except InvalidOperation:
            return None
    return text
