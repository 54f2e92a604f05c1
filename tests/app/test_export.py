"""Export JSON: valid against its own JSON Schema, words optional, results included."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import jsonschema
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import open_database
from app.db.models import DocumentRecord
from app.schemas import export_json_schema
from app.services.export import export_documents, write_export
from tests import badfiles
from tests.app.helpers import answer_record, field_record, ingest
from tests.conftest import ICDAR_DIR


def _ingest_two(settings: Settings, tmp_path: Path) -> None:
    for path in (ICDAR_DIR / "eu-004.pdf", badfiles.make_encrypted_pdf(tmp_path)):
        ingest(settings, path)


def _store_results(
    session: Session,
    document_id: int,
    *,
    answer: tuple[str, str, float, list[list[float]]],
    field: tuple[str, str, str, str, float, list[list[float]]],
) -> None:
    """One answer (question, answer, confidence, boxes) and one invoice field (name, type,
    value, raw text, confidence, boxes) on page 0, as the extractive engine stores them."""
    question, text, confidence, boxes = answer
    session.add(answer_record(document_id, question, text, confidence=confidence, boxes=boxes))
    name, kind, value, raw_text, confidence, boxes = field
    session.add(
        field_record(
            document_id,
            name,
            value,
            type=kind,
            raw_text=raw_text,
            confidence=confidence,
            boxes=boxes,
        )
    )


def test_export_validates_and_carries_pages_words_and_failures(
    settings: Settings, tmp_path: Path
) -> None:
    _ingest_two(settings, tmp_path)
    before = datetime.now(UTC)
    with open_database(settings)() as session:
        exported = export_documents(session=session)
    after = datetime.now(UTC)
    out = tmp_path / "export.json"
    write_export(exported, out, per_document=False)
    payload = json.loads(out.read_text())
    schema = export_json_schema()
    for item in payload:
        jsonschema.validate(item, schema)
    ready, failed = payload
    assert ready["schema_version"] == 4
    assert (
        ready["document"]["sha256"]
        == hashlib.sha256((ICDAR_DIR / "eu-004.pdf").read_bytes()).hexdigest()
    )
    assert ready["document"]["status"] == "ready"
    assert len(ready["pages"]) == ready["document"]["page_count"]
    page = ready["pages"][0]
    assert page["text_source"] == "pdf" and page["words"]
    assert all(0 <= c <= 1 for word in page["words"] for c in word["box"])
    assert failed["document"]["status"] == "failed"
    assert "password" in failed["document"]["error"]
    assert failed["pages"] == []
    # Which docfuse and which OCR made it, by version, and when.
    provenance = ready["provenance"]
    assert provenance["generator"] == f"docfuse {version('docfuse')}"
    assert provenance["ocr_engine"] == f"rapidocr {version('rapidocr')}"
    assert before <= datetime.fromisoformat(provenance["exported_at"]) <= after


def test_no_words_and_one_file_per_document(settings: Settings, tmp_path: Path) -> None:
    _ingest_two(settings, tmp_path)
    with open_database(settings)() as session:
        exported = export_documents(session=session, include_words=False)
    written = write_export(exported, tmp_path / "out" / "new", per_document=True)
    assert write_export(exported, tmp_path / "out" / "new", per_document=True) == written
    names = [f"{item.document.id}-{item.document.sha256[:12]}.json" for item in exported]
    assert [path.name for path in written] == names and len(set(names)) == 2
    [array] = write_export(exported, tmp_path / "all.json", per_document=False)
    for path, in_array in zip(written, json.loads(array.read_text()), strict=True):
        # each file holds its document as the array does, written alike
        assert path.read_text() == json.dumps(in_array, indent=2, ensure_ascii=False) + "\n"
        item = json.loads(path.read_text())
        jsonschema.validate(item, export_json_schema())
        assert all(page["words"] is None for page in item["pages"])


def test_answers_and_fields_are_exported_with_boxes(settings: Settings, tmp_path: Path) -> None:
    _ingest_two(settings, tmp_path)
    sessions = open_database(settings)
    with sessions() as session:
        document = session.scalars(
            select(DocumentRecord).where(DocumentRecord.status == "ready")
        ).one()
        _store_results(
            session,
            document.id,
            answer=("What is the title?", "Releases", 0.9, [[0, 0.1, 0.2, 0.3, 0.25]]),
            field=("total", "amount", "12.50", "12,50 EUR", 0.5, [[0, 0.5, 0.5, 0.6, 0.55]]),
        )
        session.commit()
        [exported] = export_documents(session=session, document_ids=[document.id])
    item = json.loads(exported.model_dump_json(by_alias=True))
    jsonschema.validate(item, export_json_schema())
    assert item["answers"][0]["boxes"] == [{"page": 0, "box": [0.1, 0.2, 0.3, 0.25]}]
    assert item["fields"][0]["schema"] == "invoice"
    assert item["fields"][0]["value"] == "12.50"
    assert item["answers"][0]["grounded"] and item["fields"][0]["grounded"]


def test_results_the_page_lacks_are_exported_ungrounded(settings: Settings, tmp_path: Path) -> None:
    """Text grounding did not find keeps its page and, for a field, its printed spelling,
    but no box and `"grounded": false`: a reader must not take it as seen on the page."""
    document_id = ingest(settings, ICDAR_DIR / "eu-004.pdf").document_id
    with open_database(settings)() as session:
        _store_results(
            session,
            document_id,
            answer=("What is the due date?", "1 déc 2026", 0.3, []),
            field=("due_date", "date", "2026-12-01", "1 Dec 2026", 0.3, []),
        )
        session.commit()
        exported = export_documents(session=session, document_ids=[document_id])
    [path] = write_export(exported, tmp_path / "new" / "folder" / "out.json", per_document=False)
    text = path.read_text()  # two-space indents, text as written, keys by their aliases
    assert text.startswith("[\n  {\n") and '"answer": "1 déc 2026"' in text
    assert '"schema": "invoice"' in text
    [item] = json.loads(text)
    [answer], [field] = item["answers"], item["fields"]
    unfound = {"page": 0, "boxes": [], "grounded": False, "confidence": 0.3}
    assert {name: answer[name] for name in ("answer", *unfound)} == {
        "answer": "1 déc 2026",
        **unfound,
    }
    assert {name: field[name] for name in ("value", "raw_text", *unfound)} == {
        "value": "2026-12-01",
        "raw_text": "1 Dec 2026",
        **unfound,
    }


def test_each_page_says_how_well_ocr_read_it(settings: Settings, tmp_path: Path) -> None:
    from app.samples import write_samples

    receipt = next(p for p in write_samples(tmp_path) if p.suffix == ".png")
    note = badfiles.make_one_word_scan(tmp_path)
    for path in (receipt, note, ICDAR_DIR / "eu-004.pdf"):
        ingest(settings, path)
    with open_database(settings)() as session:
        exported = {d.document.filename: d for d in export_documents(session=session)}
    (scan,) = exported[receipt.name].pages
    assert scan.ocr_confidence is not None and scan.ocr_confidence > 0.9 and not scan.ocr_poor
    (one_word,) = exported[note.name].pages
    assert [w.text for w in one_word.words or []] == ["Approved"] and one_word.ocr_poor
    text_layer = exported["eu-004.pdf"].pages[0]
    assert text_layer.ocr_confidence is None and not text_layer.ocr_poor


def test_exporting_more_documents_takes_no_more_queries(settings: Settings, tmp_path: Path) -> None:
    """Pages, answers, fields and corrections are read for all documents at once: a folder of
    thousands exports in a handful of queries, not several per document."""
    document_ids = [
        ingest(settings, badfiles.make_multipage_pdf(tmp_path, 2, name=f"{n}.pdf")).document_id
        for n in range(3)
    ]
    queries: list[str] = []
    sessions = open_database(settings)
    engine = sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
    with sessions() as session:
        (one,) = export_documents(session=session, document_ids=document_ids[:1])
        first = len(queries)
        three = export_documents(session=session, document_ids=document_ids)
    assert [len(document.pages) for document in (one, *three)] == [2] * 4
    assert len(queries) - first == first
