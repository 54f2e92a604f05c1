"""Corrections and confirmations: stored beside the model's values, grounded, exported,
and outliving the results they corrected."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.db import open_database
from app.db.models import CorrectionRecord, DocumentRecord, DocumentStatus, FieldRecord
from app.errors import NotFoundError
from app.samples import write_samples
from app.schemas import export_json_schema
from app.services.corrections import confirm_answer, confirm_field, correct_answer, correct_field
from app.services.export import export_documents, field_schema_names, fields_csv
from app.services.extractor_training import CORRECTION_WEIGHT, corrected_documents
from app.services.payloads import AnalysisRequest
from pipeline.fields.schemas import load_schema
from tests import badfiles
from tests.app.helpers import analyze, correct_invoice_field, ingest

QUESTION = "What is the total?"


@pytest.fixture
def invoice(settings: Settings, tmp_path: Path) -> int:
    path = next(p for p in write_samples(tmp_path) if p.suffix == ".pdf")
    document_id = ingest(settings, path).document_id
    analyze(settings, document_id, AnalysisRequest.of([QUESTION], load_schema("invoice")))
    return document_id


def _exported(settings: Settings, document_id: int) -> dict:
    with open_database(settings)() as session:
        (document,) = export_documents(session=session, document_ids=[document_id])
    item = json.loads(document.model_dump_json(by_alias=True))
    jsonschema.validate(item, export_json_schema())
    return item


def _field(item: dict, name: str) -> list[dict]:
    return [field for field in item["fields"] if field["name"] == name]


def test_a_correction_is_stored_beside_the_model_value(settings: Settings, invoice: int) -> None:
    with open_database(settings)() as session:
        corrected = correct_invoice_field(
            session, settings, invoice, "vendor", "ACME Office Supplies"
        )
        again = correct_invoice_field(session, settings, invoice, "issue_date", "3 Nov 2026")
        blank = correct_field(  # no due date, said without naming a row (its default)
            session=session, settings=settings, document_id=invoice, schema_name="invoice",
            field_name="due_date", text="  ",
        )  # fmt: skip
        answer = correct_answer(
            session=session, settings=settings, document_id=invoice, question=QUESTION, text="89"
        )
    assert (blank.value, blank.list_index, answer.list_index) == (None, 0, 0)
    assert corrected.kind == "corrected" and corrected.grounded and corrected.page == 0
    assert again.value == "2026-11-03" and again.raw_text == "3 Nov 2026"  # normalised
    item = _exported(settings, invoice)
    assert item["schema_version"] == 4
    (vendor,) = _field(item, "vendor")
    assert vendor["value"] == "ACME Office Supplies Ltd."  # the model's, kept
    (correction,) = vendor["corrections"]
    assert correction["value"] == "ACME Office Supplies" and correction["boxes"]
    x0, y0, x1, y1 = correction["boxes"][0]["box"]
    assert 0 < x0 < x1 < 1 and 0 < y0 < y1 < 0.5


def test_correcting_again_replaces_the_person_s_value(settings: Settings, invoice: int) -> None:
    with open_database(settings)() as session:
        for text in ("1.00", "89.28"):
            correct_invoice_field(session, settings, invoice, "total", text)
        assert session.scalar(select(func.count()).select_from(CorrectionRecord)) == 1
    (total,) = _field(_exported(settings, invoice), "total")
    assert [c["value"] for c in total["corrections"]] == ["89.28"]


def test_confirming_keeps_the_model_value_and_its_boxes(settings: Settings, invoice: int) -> None:
    with open_database(settings)() as session:
        field = confirm_field(
            session=session, document_id=invoice, schema_name="invoice", field_name="total"
        )
        answer = confirm_answer(session=session, document_id=invoice, question=QUESTION)
    item = _exported(settings, invoice)
    (total,) = _field(item, "total")
    assert (field.kind, field.value) == ("confirmed", total["value"])
    assert (field.raw_text, field.page) == (total["raw_text"], total["page"]) != (None, None)
    assert [box.model_dump(mode="json") for box in field.boxes] == total["boxes"]
    assert item["answers"][0]["corrections"][0]["kind"] == "confirmed"
    assert answer.value == answer.raw_text == item["answers"][0]["answer"] == "89.28"
    assert answer.page == item["answers"][0]["page"] == 0


def test_corrections_outlive_the_result_they_corrected(settings: Settings, invoice: int) -> None:
    with open_database(settings)() as session:
        correct_answer(
            session=session, settings=settings, document_id=invoice, question=QUESTION, text="89"
        )
        correct_invoice_field(session, settings, invoice, "total", "89.28")
        extractive_id = session.scalars(
            select(FieldRecord.id).filter_by(name="total", engine="extractive")
        ).one()
    schema = load_schema("invoice")
    analyze(settings, invoice, AnalysisRequest.of([QUESTION], schema, engine="tiny-random"))
    item = _exported(settings, invoice)
    totals = _field(item, "total")
    assert {t["engine"] for t in totals} == {"extractive", "florence-vl"}
    assert all(t["corrections"][0]["value"] == "89.28" for t in totals)
    assert all(a["corrections"][0]["value"] == "89" for a in item["answers"])
    with open_database(settings)() as session:
        record = session.scalars(select(CorrectionRecord).filter_by(field_name="total")).one()
        assert record.field_id == extractive_id and record.model_value == "89.28"


def test_only_what_a_model_produced_can_be_corrected(settings: Settings, invoice: int) -> None:
    with open_database(settings)() as session, pytest.raises(NotFoundError, match="receipt"):
        confirm_field(session=session, document_id=invoice, schema_name="receipt", field_name="x")
    with open_database(settings)() as session, pytest.raises(NotFoundError, match="ask it"):
        confirm_answer(session=session, document_id=invoice, question="Never asked?")


def test_correct_and_confirm_from_the_command_line(runner: CliRunner, tmp_path: Path) -> None:
    path = next(p for p in write_samples(tmp_path) if p.suffix == ".pdf")
    ingested = runner.invoke(cli, ["ingest", str(path), "--schema", "invoice", "--ask", QUESTION])
    assert ingested.exit_code == 0, ingested.output
    fields = runner.invoke(cli, ["correct", "1", "--schema", "invoice", "tax=14.88", "vendor=ACME"])
    assert fields.exit_code == 0, fields.output
    assert "corrected invoice.tax = 14.88 (page 0)" in fields.output
    answer = runner.invoke(cli, ["correct", "1", "89.28", "--question", QUESTION])
    assert answer.exit_code == 0 and f"corrected {QUESTION} = 89.28 (page 0)" in answer.output
    confirmed = runner.invoke(cli, ["confirm", "1", "total", "--schema", "invoice"])
    assert confirmed.exit_code == 0 and "confirmed invoice.total = 89.28" in confirmed.output
    assert runner.invoke(cli, ["correct", "1", "total=1"]).exit_code == 2  # no target
    assert runner.invoke(cli, ["correct", "1", "total", "--schema", "invoice"]).exit_code == 2
    missing = runner.invoke(cli, ["confirm", "1", "--question", "Unasked?"])
    assert missing.exit_code == 3 and "ask it first" in missing.output
    exported = runner.invoke(cli, ["export", "1", "-o", str(tmp_path / "out.json")])
    assert exported.exit_code == 0
    document = json.loads((tmp_path / "out.json").read_text())[0]
    (tax,) = _field(document, "tax")
    assert tax["corrections"][0]["value"] == "14.88"


def test_the_fields_csv_has_a_row_per_document_with_the_person_s_values(
    settings: Settings, invoice: int, tmp_path: Path
) -> None:
    receipt = next(p for p in write_samples(tmp_path / "more") if p.suffix != ".pdf")
    other = ingest(settings, receipt).document_id  # no invoice fields
    with open_database(settings)() as session:
        correct_invoice_field(session, settings, invoice, "customer", "Northwind Traders")
        # a second row is not the field's value
        correct_invoice_field(session, settings, invoice, "customer", "Second Row Ltd", 1)
        text = fields_csv(session=session, document_ids=[other, invoice], schema_name="invoice")
        assert field_schema_names(session=session, document_ids=[other, invoice]) == ["invoice"]
        assert field_schema_names(session=session, document_ids=[other]) == []
    header, *rows = list(csv.reader(io.StringIO(text)))
    fields = [f.name for f in load_schema("invoice").fields]
    assert header[:2] == ["document_id", "filename"] and sorted(header[2:]) == sorted(fields)
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    assert list(by_id) == [invoice, other]  # by id
    assert by_id[invoice]["customer"] == "Northwind Traders"  # the person's value
    assert (
        by_id[invoice]["total"] == "89.28" and by_id[invoice]["invoice_number"] == "INV-2026-0042"
    )
    assert by_id[other]["filename"] == receipt.name and set(list(by_id[other].values())[2:]) == {""}


def test_labelled_documents_come_in_document_order_and_only_ready_ones(
    settings: Settings, tmp_path: Path
) -> None:
    """Corrected in the order 3, 1, 2, with document 1 being read again: documents 2 and 3,
    in that order (training sees them alike whatever order people corrected them in)."""
    invoice = load_schema("invoice")
    documents = []
    for number in (1, 2, 3):
        path = badfiles.make_multipage_pdf(tmp_path, 1, name=f"{number}.pdf")
        document_id = ingest(settings, path).document_id
        analyze(settings, document_id, AnalysisRequest.of([], invoice))
        documents.append(document_id)
    with open_database(settings)() as session:
        for document_id in (documents[2], documents[0], documents[1]):
            correct_invoice_field(session, settings, document_id, "total", "12.50")
        session.execute(
            update(DocumentRecord)
            .where(DocumentRecord.id == documents[0])
            .values(status=DocumentStatus.PROCESSING)
        )
        labelled = corrected_documents(session, settings)
    assert [document.name for document in labelled] == [
        f"document {documents[1]}",
        f"document {documents[2]}",
    ]


def test_corrections_become_one_labelled_document_to_train_on(
    settings: Settings, invoice: int
) -> None:
    """Each corrected or confirmed field labels the document with the person's value as
    printed (its raw text), weighted above the development data; answers are no fields."""
    with open_database(settings)() as session:
        correct_invoice_field(session, settings, invoice, "issue_date", "3 Nov 2026")
        correct_invoice_field(session, settings, invoice, "customer", "Northwind Traders")
        correct_invoice_field(session, settings, invoice, "customer", "Second Row Ltd", 1)
        confirm_field(
            session=session, document_id=invoice, schema_name="invoice", field_name="total"
        )
        correct_answer(
            session=session, settings=settings, document_id=invoice, question=QUESTION, text="89"
        )
        (document,) = corrected_documents(session, settings)
        sha256 = session.get_one(DocumentRecord, invoice).sha256
    assert (document.name, document.group) == (f"document {invoice}", f"document/{sha256}")
    assert document.gold == {
        "issue_date": "3 Nov 2026",
        "customer": "Northwind Traders",
        "total": "89.28",
    }
    assert [(spec.name, spec.type) for spec in document.fields] == [
        ("issue_date", "date"),
        ("customer", "string"),
        ("total", "amount"),
    ]
    assert document.weight == CORRECTION_WEIGHT > 1 and document.scored
    assert len(document.pages) == 1 and document.pages[0].words


def test_a_corrected_date_is_read_in_the_order_the_document_writes_dates(
    settings: Settings, tmp_path: Path
) -> None:
    """On an invoice whose "11/17/2017" can only be month first, a person's "11/04/2017" is
    4 November, as the engine's "11/03/2017" is 3 November."""
    lines = ("INVOICE", "Invoice Date: 11/03/2017", "Due Date: 11/17/2017", "Total: 10.00")
    path = badfiles.make_born_digital_pdf(tmp_path, lines)
    document_id = ingest(settings, path).document_id
    results = analyze(settings, document_id, AnalysisRequest.of([], load_schema("invoice")))
    issued = next(field for field in results.fields if field.name == "issue_date")
    assert (issued.raw_text, issued.value) == ("11/03/2017", "2017-11-03")
    with open_database(settings)() as session:
        corrected = correct_invoice_field(
            session, settings, document_id, "issue_date", "11/04/2017"
        )
    assert corrected.value == "2017-11-04"
