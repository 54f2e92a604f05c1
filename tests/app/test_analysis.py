"""Ask and extract through the services: grounded boxes, confidence, idempotent upserts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import open_database
from app.db.models import Answer, FieldResult
from app.engines import EngineChoice, build_engine, choose_engine
from app.samples import write_samples
from app.services import analysis
from app.services.analysis import DocumentNotReadyError
from app.services.ingest import ingest_path
from pipeline.fields.schemas import load_schema
from tests import badfiles


@pytest.fixture
def invoice_id(settings: Settings, tmp_path: Path) -> int:
    path = next(p for p in write_samples(tmp_path) if p.suffix == ".pdf")
    return ingest_path(sessions=open_database(settings), settings=settings, path=path).document_id


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    return build_engine(settings, EngineChoice("extractive", "test"))


def test_extract_stores_grounded_typed_fields_once(settings: Settings, invoice_id: int) -> None:
    sessions = open_database(settings)
    kwargs = {"sessions": sessions, "settings": settings, "engine": _engine(settings)}
    schema = load_schema("invoice")
    first = analysis.extract(**kwargs, document_id=invoice_id, schema=schema)
    total = next(row for row in first if row.name == "total")
    assert (total.value, total.raw_text, total.page_index) == ("89.28", "89.28", 0)
    assert len(total.boxes) == 1 and total.confidence == pytest.approx(1.0)
    page, x0, y0, x1, y1 = total.boxes[0]
    assert page == 0 and 0.5 < x0 < x1 < 1 and 0 < y0 < y1 < 0.5  # right column, upper half
    issue = next(row for row in first if row.name == "issue_date")
    assert (issue.value, issue.raw_text) == ("2026-11-03", "03/11/2026")

    again = analysis.extract(**kwargs, document_id=invoice_id, schema=schema)
    assert [row.id for row in again] == [row.id for row in first]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(FieldResult)) == len(schema.fields)


def test_ask_is_grounded_and_upserted(settings: Settings, invoice_id: int) -> None:
    sessions = open_database(settings)
    kwargs = {"sessions": sessions, "settings": settings, "engine": _engine(settings)}
    answer = analysis.ask(**kwargs, document_id=invoice_id, question="What is the invoice number?")
    assert answer.answer == "INV-2026-0042" and answer.page_index == 0 and answer.boxes
    analysis.ask(**kwargs, document_id=invoice_id, question="What is the invoice number?")
    nothing = analysis.ask(**kwargs, document_id=invoice_id, question="What is the weather?")
    assert nothing.answer == "" and nothing.boxes == [] and nothing.confidence == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Answer)) == 2
    with pytest.raises(ValueError, match="no page 3"):
        analysis.ask(**kwargs, document_id=invoice_id, question="Total?", page=3)


def test_text_not_on_the_page_is_flagged_not_boxed(settings: Settings, invoice_id: int) -> None:
    with open_database(settings)() as session:
        from app.db.models import Document

        pages = analysis.load_pages(settings, session.get_one(Document, invoice_id))
    found = analysis.ground_text("Northwind Traders", pages, 0.8, None)
    assert found.boxes and found.confidence == pytest.approx(0.8)
    missing = analysis.ground_text("Umbrella Corporation", pages, 0.8, None)
    assert missing.boxes == [] and missing.confidence == pytest.approx(0.4)


def test_questions_on_a_failed_document_say_why(settings: Settings, tmp_path: Path) -> None:
    sessions = open_database(settings)
    failed = ingest_path(
        sessions=sessions, settings=settings, path=badfiles.make_encrypted_pdf(tmp_path)
    )
    with pytest.raises(DocumentNotReadyError, match="failed: .*password"):
        analysis.ask(
            sessions=sessions,
            settings=settings,
            engine=_engine(settings),
            document_id=failed.document_id,
            question="What is the total?",
        )


def test_auto_engine_falls_back_to_extractive_and_says_why(
    settings: Settings, tmp_path: Path
) -> None:
    choice = choose_engine(settings.model_copy(update={"model": str(tmp_path / "missing")}))
    assert choice.name == "extractive" and "no local Florence-VL checkpoint" in choice.reason
    checkpoint = tmp_path / "florence-vl"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    choice = choose_engine(settings.model_copy(update={"model": str(checkpoint)}))
    assert choice.name == "florence-vl" and str(checkpoint) in choice.reason
    forced = choose_engine(settings.model_copy(update={"engine": "extractive"}))
    assert forced == EngineChoice("extractive", "DOCFUSE_ENGINE=extractive")


def test_tiny_random_florence_vl_runs_through_the_services(
    settings: Settings, invoice_id: int
) -> None:
    """The real Florence-VL code (random weights) answers, and its output says what it is."""
    sessions = open_database(settings)
    engine = build_engine(settings, EngineChoice("tiny-random", "test"))
    kwargs = {"sessions": sessions, "settings": settings, "engine": engine}
    answer = analysis.ask(**kwargs, document_id=invoice_id, question="What is the total?")
    fields = analysis.extract(**kwargs, document_id=invoice_id, schema=load_schema("receipt"))
    assert (answer.engine, answer.model, answer.model_revision) == (
        "florence-vl",
        "tiny-random",
        "tiny-random",
    )
    assert isinstance(answer.answer, str) and 0 <= answer.confidence <= 1
    assert [f.name for f in fields] == ["company", "date", "address", "total"]
    assert all(f.model == "tiny-random" and 0 <= (f.confidence or 0) <= 1 for f in fields)
