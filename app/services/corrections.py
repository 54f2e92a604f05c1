"""Corrections and confirmations: a person's value for a field or an answer.

A correction is stored beside the model's result, never over it, keyed by what it is about
(document, schema and field, or question; the row of a list value) rather than by the
engine that produced the result, so it stands beside results of later engines and model
revisions too. It points at the result it corrected and records the model's value then.
The person's value is grounded on the page like an engine's, so a viewer can show where it
is. Confirming keeps the model's value (with its boxes) as the person's.

Only results a model produced can be corrected: the exports and training data built from
corrections pair each one with the model's output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.json_columns import encode_boxes
from app.db.keys import answer_target, field_target
from app.db.models import (
    AnswerRecord,
    CorrectionKind,
    CorrectionRecord,
    DocumentRecord,
    FieldRecord,
)
from app.db.upsert import upsert
from app.errors import NotFoundError
from app.read_models import correction_out
from app.schemas import CorrectionOut
from app.services.pages import load_pages
from app.services.results import latest_answer, latest_fields
from pipeline.analysis import ground_text, pages_day_first
from pipeline.fields.normalize import normalize
from pipeline.types import Page

CORRECTION_KEY = ("document_id", "target", "list_index")


def correct_field(
    *,
    session: Session,
    settings: Settings,
    document_id: int,
    schema_name: str,
    field_name: str,
    text: str,
    list_index: int = 0,
) -> CorrectionOut:
    """Store a person's value for a field (committed)."""
    field = _latest_field(session, document_id, schema_name, field_name)
    pages = _pages(session, settings, document_id)
    # None for blank text, as for no value; numeric dates in the order the document uses
    value = normalize(field.type, text, day_first=pages_day_first(pages))
    values = _grounded(pages, text) | {"value": value}
    return _store(
        session,
        field_values(field, list_index) | values | {"kind": CorrectionKind.CORRECTED},
    )


def confirm_field(
    *, session: Session, document_id: int, schema_name: str, field_name: str, list_index: int = 0
) -> CorrectionOut:
    """Keep the model's value of a field as the person's (committed)."""
    field = _latest_field(session, document_id, schema_name, field_name)
    kept = _kept(field.value, field.raw_text, field.page_index, field.boxes)
    return _store(session, field_values(field, list_index) | kept)


def correct_answer(
    *, session: Session, settings: Settings, document_id: int, question: str, text: str
) -> CorrectionOut:
    """Store a person's answer to a question (committed)."""
    answer = _latest_answer(session, document_id, question)
    pages = _pages(session, settings, document_id)
    values = _grounded(pages, text) | {"value": text.strip() or None}
    return _store(session, answer_values(answer) | values | {"kind": CorrectionKind.CORRECTED})


def confirm_answer(*, session: Session, document_id: int, question: str) -> CorrectionOut:
    """Keep the model's answer as the person's (committed)."""
    answer = _latest_answer(session, document_id, question)
    kept = _kept(answer.answer, answer.answer, answer.page_index, answer.boxes)
    return _store(session, answer_values(answer) | kept)


def _kept(value: str | None, raw: str | None, page: int | None, boxes: list) -> dict[str, Any]:
    """A confirmation: the model's value, page and boxes, as the person's."""
    return {
        "value": value,
        "raw_text": raw,
        "page_index": page,
        "boxes": boxes,
        "kind": CorrectionKind.CONFIRMED,
    }


def field_values(field: FieldRecord, list_index: int) -> dict[str, Any]:
    return {
        "document_id": field.document_id,
        "target": field_target(field.schema_name, field.name),
        "list_index": list_index,
        "schema_name": field.schema_name,
        "field_name": field.name,
        "question": None,
        "field_id": field.id,
        "answer_id": None,
        "model_value": field.value,
    }


def answer_values(answer: AnswerRecord) -> dict[str, Any]:
    return {
        "document_id": answer.document_id,
        "target": answer_target(answer.question),
        "list_index": 0,
        "schema_name": None,
        "field_name": None,
        "question": answer.question,
        "field_id": None,
        "answer_id": answer.id,
        "model_value": answer.answer,
    }


def _pages(session: Session, settings: Settings, document_id: int) -> list[Page]:
    return load_pages(settings, session.get_one(DocumentRecord, document_id))


def _grounded(pages: Sequence[Page], text: str) -> dict[str, Any]:
    """The person's text, and where on the document's pages grounding finds it."""
    grounded = ground_text(text, pages, None, None)
    return {
        "raw_text": text.strip() or None,
        "page_index": grounded.boxes[0].page if grounded.boxes else None,
        "boxes": encode_boxes(grounded.boxes),
    }


def _store(session: Session, values: dict[str, Any]) -> CorrectionOut:
    values["kind"] = str(values["kind"])
    upsert(session, CorrectionRecord, values, CORRECTION_KEY)
    session.commit()
    key = {column: values[column] for column in CORRECTION_KEY}
    return correction_out(session.scalars(select(CorrectionRecord).filter_by(**key)).one())


def _latest_field(
    session: Session, document_id: int, schema_name: str, field_name: str
) -> FieldRecord:
    field = latest_fields(session, document_id, schema_name).get(field_name)
    if field is None:
        raise NotFoundError(
            f"document {document_id} has no {schema_name}.{field_name} from a model: "
            f"extract the {schema_name} schema first"
        )
    return field


def _latest_answer(session: Session, document_id: int, question: str) -> AnswerRecord:
    answer = latest_answer(session, document_id, question)
    if answer is None:
        raise NotFoundError(f"document {document_id} has no answer to {question!r}: ask it first")
    return answer
