"""Embedded e-invoices: the CII XML of real Factur-X samples, a UBL invoice, and attachments
that are not invoices or not XML at all, which leave the page to be read as a picture."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pymupdf
import pytest

from pipeline.einvoice import parse_invoice_xml, read_embedded_invoice
from tests.conftest import SHARED_DATA

EMBEDDED = SHARED_DATA / "invoices-dev" / "embedded"

UBL = """<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:ID>F-2026-117</cbc:ID>
  <cbc:IssueDate>2026-10-02</cbc:IssueDate>
  <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  <cac:AccountingSupplierParty><cac:Party><cac:PartyLegalEntity>
    <cbc:RegistrationName>Atelier   Dupont SARL</cbc:RegistrationName>
  </cac:PartyLegalEntity></cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party><cac:PartyLegalEntity>
    <cbc:RegistrationName>Boulangerie Martin</cbc:RegistrationName>
  </cac:PartyLegalEntity></cac:Party></cac:AccountingCustomerParty>
  <cac:PaymentMeans><cbc:PaymentDueDate>2026-11-01</cbc:PaymentDueDate></cac:PaymentMeans>
  <cac:TaxTotal><cbc:TaxAmount currencyID="EUR">24.00</cbc:TaxAmount></cac:TaxTotal>
  <cac:LegalMonetaryTotal>
    <cbc:TaxExclusiveAmount currencyID="EUR">120.00</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="EUR">144.00</cbc:TaxInclusiveAmount>
  </cac:LegalMonetaryTotal>
  <cac:InvoiceLine>
    <cbc:InvoicedQuantity unitCode="C62">3</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="EUR">120.00</cbc:LineExtensionAmount>
    <cac:Item><cbc:Name>Croissant trays</cbc:Name></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="EUR">40.00</cbc:PriceAmount></cac:Price>
  </cac:InvoiceLine>
</Invoice>"""


def _pdf_with(tmp_path: Path, attachments: dict[str, bytes]) -> Path:
    document = pymupdf.open()
    document.new_page().insert_text((72, 72), "Invoice")
    for name, data in attachments.items():
        document.embfile_add(name, data, filename=name)
    path = tmp_path / "attached.pdf"
    document.save(path)
    return path


def test_the_factur_x_samples_give_their_cii_values() -> None:
    invoice = read_embedded_invoice(EMBEDDED / "EN16931_Einfach.pdf")
    assert invoice is not None and invoice.source == "e-invoice CII (factur-x.xml)"
    values = dict(invoice.values)
    rows = json.loads(values.pop("line_items"))
    assert values == {
        "invoice_number": "471102",
        "issue_date": "2018-03-05",  # format 102: 20180305
        "vendor": "Lieferant GmbH",
        "customer": "Kunden AG Mitte",
        "currency": "EUR",
        "subtotal": "473.00",
        "tax": "56.87",
        "total": "529.87",
    }  # no due date in this XML: the page is left to give it
    assert rows == [
        {"description": "Trennblätter A4", "quantity": "20.00", "unit_price": "9.90",
         "amount": "198.00"},
        {"description": "Joghurt Banane", "quantity": "50.00", "unit_price": "5.50",
         "amount": "275.00"},
    ]  # fmt: skip
    discounted = read_embedded_invoice(EMBEDDED / "EN16931_Rabatte.pdf")
    assert discounted is not None
    assert (discounted.values["total"], discounted.values["subtotal"]) == ("215.07", "193.77")


def test_a_ubl_invoice_and_its_due_date_from_the_payment_means(tmp_path: Path) -> None:
    invoice = read_embedded_invoice(_pdf_with(tmp_path, {"xrechnung.xml": UBL.encode()}))
    assert invoice is not None and invoice.syntax == "UBL"
    assert invoice.values["vendor"] == "Atelier Dupont SARL"  # whitespace collapsed
    assert (invoice.values["due_date"], invoice.values["total"]) == ("2026-11-01", "144.00")
    (row,) = json.loads(invoice.values["line_items"])
    assert row == {"description": "Croissant trays", "quantity": "3.00", "unit_price": "40.00",
                   "amount": "120.00"}  # fmt: skip


def test_the_tax_total_in_the_invoice_currency_is_the_one_taken() -> None:
    cii = (EMBEDDED / "EN16931_Einfach.pdf").read_bytes()
    xml = pymupdf.open(stream=cii).embfile_get("factur-x.xml")
    twice = xml.replace(
        b'<ram:TaxTotalAmount currencyID="EUR">56.87',
        b'<ram:TaxTotalAmount currencyID="CHF">61.02</ram:TaxTotalAmount>\n'
        b'<ram:TaxTotalAmount currencyID="EUR">56.87',
    )
    assert twice != xml
    invoice = parse_invoice_xml(twice)
    assert invoice is not None and invoice.values["tax"] == "56.87"


def test_attachments_that_are_not_invoices_leave_the_page_to_be_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert read_embedded_invoice(_pdf_with(tmp_path, {})) is None
    other = b"<?xml version='1.0'?><catalogue><item>tea</item></catalogue>"
    assert read_embedded_invoice(_pdf_with(tmp_path, {"catalogue.xml": other})) is None
    assert read_embedded_invoice(_pdf_with(tmp_path, {"notes.txt": UBL.encode()})) is None
    broken = _pdf_with(tmp_path, {"factur-x.xml": b"<rsm:CrossIndustryInvoice><unclosed>"})
    with caplog.at_level(logging.WARNING):
        assert read_embedded_invoice(broken) is None
    assert f"{broken}: embedded invoice XML not read" in caplog.text
