"""A Factur-X PDF through the services: fields the embedded XML holds take its exact values,
grounded where the page prints them, and say so; the rest are read from the page."""

from __future__ import annotations

import json

import pytest

from app.config import Settings
from app.services.payloads import AnalysisRequest
from pipeline.fields.schemas import load_schema
from tests.app.helpers import analyze, ingest
from tests.conftest import SHARED_DATA

FACTUR_X = SHARED_DATA / "invoices-dev" / "embedded" / "EN16931_Einfach.pdf"
SOURCE = "e-invoice CII (factur-x.xml)"


def test_embedded_invoice_values_are_exact_grounded_and_marked(settings: Settings) -> None:
    document_id = ingest(settings, FACTUR_X).document_id
    results = analyze(settings, document_id, AnalysisRequest.of([], load_schema("invoice")))
    fields = {field.name: field for field in results.fields}
    total, issued = fields["total"], fields["issue_date"]
    assert (total.value, total.raw_text, total.source) == ("529.87", "529,87", SOURCE)
    assert (issued.value, issued.raw_text) == ("2018-03-05", "05.03.2018")  # as printed
    for field in (total, issued, fields["invoice_number"], fields["vendor"]):
        assert field.source == SOURCE and field.confidence == pytest.approx(1.0)
        assert field.boxes and field.boxes[0].page == field.page, field.name
    assert (issued.page, total.page) == (0, 1)  # the totals are on the second page
    rows = json.loads(fields["line_items"].value)
    assert [row["description"] for row in rows] == ["Trennblätter A4", "Joghurt Banane"]
    items = fields["line_items"].rows
    assert [row.value["amount"] for row in items] == ["198.00", "275.00"]
    assert all(row.boxes for row in items)  # each item found where the page lists it
    assert fields["due_date"].source == "page"  # the XML has none: read from the page


def test_a_pdf_without_an_e_invoice_is_read_from_the_page(settings: Settings, tmp_path) -> None:
    from app.samples import write_samples

    path = next(p for p in write_samples(tmp_path) if p.suffix == ".pdf")
    document_id = ingest(settings, path).document_id
    results = analyze(settings, document_id, AnalysisRequest.of([], load_schema("invoice")))
    assert {field.source for field in results.fields} == {"page"}
