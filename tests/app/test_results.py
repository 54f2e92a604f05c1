"""The latest results: the row written last is the one shown, and `docfuse documents` names
every model behind a document's results."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import open_database
from app.db.models import AnswerRecord, FieldRecord
from app.services.results import latest_answer, latest_fields, models_by_document
from tests import badfiles
from tests.app.helpers import answer_record, field_record, ingest
from tests.conftest import ICDAR_DIR

QUESTION = "What is the total?"
START = datetime(2026, 1, 1, tzinfo=UTC)


def _answer(document_id: int, engine: str, text: str, written: datetime) -> AnswerRecord:
    return answer_record(document_id, QUESTION, text, engine=engine, updated_at=written)


def _field(document_id: int, engine: str, value: str, written: datetime) -> FieldRecord:
    return field_record(
        document_id, "total", value, type="amount", engine=engine, updated_at=written
    )


def _rewrite_first(session: Session, records: list[AnswerRecord] | list[FieldRecord]) -> None:
    """Two engines' rows, the first one written again after the second."""
    session.add_all(records)
    session.commit()
    records[0].updated_at = START + timedelta(hours=2)
    session.commit()


def test_the_row_written_last_is_the_latest_whatever_its_id(
    settings: Settings, tmp_path: Path
) -> None:
    document_id = ingest(settings, ICDAR_DIR / "eu-004.pdf").document_id
    other = ingest(settings, badfiles.make_encrypted_pdf(tmp_path)).document_id
    later = START + timedelta(hours=1)
    with open_database(settings)() as session:
        last = START + timedelta(hours=3)  # another document's, written after all of them
        session.add_all(
            [
                _answer(other, "extractive", "other's", last),
                _field(other, "x", "9", last),
                answer_record(document_id, "Who?", "another question's", updated_at=last),
                field_record(document_id, "total", "7", schema_name="receipt", updated_at=last),
            ]
        )
        _rewrite_first(
            session,
            [
                _answer(document_id, "extractive", "rewritten", START),
                _answer(document_id, "florence-vl", "newer row", later),
            ],
        )
        _rewrite_first(
            session,
            [
                _field(document_id, "extractive", "12.00", START),
                _field(document_id, "florence-vl", "13.00", later),
            ],
        )
        answer = latest_answer(session, document_id, QUESTION)
        fields = latest_fields(session, document_id, "invoice")
    assert answer is not None and answer.answer == "rewritten"
    assert fields["total"].value == "12.00"


def test_each_document_names_the_models_behind_its_results(
    settings: Settings, tmp_path: Path
) -> None:
    first = ingest(settings, ICDAR_DIR / "eu-004.pdf").document_id
    second = ingest(settings, badfiles.make_encrypted_pdf(tmp_path)).document_id
    with open_database(settings)() as session:
        session.add_all(
            [
                _answer(first, "florence-vl", "a", START),
                _field(first, "extractive", "1.00", START),
                _answer(first, "extractive", "b", START),  # the same model twice: named once
                _field(second, "extractive", "2.00", START),
            ]
        )
        session.commit()
        models = models_by_document(session)
    assert models == {first: ["extractive:1", "florence-vl:1"], second: ["extractive:1"]}


def test_of_two_rows_written_at_the_same_time_the_later_one_is_the_latest(
    settings: Settings,
) -> None:
    document_id = ingest(settings, ICDAR_DIR / "eu-004.pdf").document_id
    with open_database(settings)() as session:
        session.add(_answer(document_id, "extractive", "first", START))
        session.add(_field(document_id, "extractive", "1.00", START))
        session.commit()
        session.add(_answer(document_id, "florence-vl", "second", START))
        session.add(_field(document_id, "florence-vl", "2.00", START))
        session.commit()
        answer = latest_answer(session, document_id, QUESTION)
        fields = latest_fields(session, document_id, "invoice")
    assert answer is not None and answer.answer == "second"
    assert fields["total"].value == "2.00"
