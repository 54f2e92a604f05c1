"""The ask and extract use cases: engine answers, grounded on the page, upserted.

Grounding is independent of the engine: the answer text is looked up in the page's words
and the boxes of the match are stored. Confidence = engine confidence x match score (the
match score alone when the engine gives none); an answer whose text cannot be found on the
page keeps its text, gets no box, and its confidence is halved, so it sorts below any
grounded answer. Results are keyed as DESIGN.md says, so running the same question or
schema again updates the stored row instead of adding one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image
from sqlalchemy import UniqueConstraint, select
from sqlalchemy.orm import sessionmaker

from app.config import Settings
from app.db.json_columns import decode_words, encode_boxes
from app.db.models import Answer, Base, Document, DocumentStatus, FieldResult
from app.db.upsert import upsert
from pipeline.engines.base import Engine, FieldSpec, FieldValue, Question
from pipeline.fields.normalize import normalize
from pipeline.fields.schemas import FieldSchema
from pipeline.grounding import ground
from pipeline.types import Box, Page, TextSource

UNGROUNDED_PENALTY = 0.5


class DocumentNotReadyError(ValueError):
    """Questions need a document whose pages were rendered."""


@dataclass(frozen=True)
class Grounded:
    boxes: list[Box]
    confidence: float | None


def load_pages(settings: Settings, document: Document) -> list[Page]:
    """The document's pages as the pipeline sees them (images open lazily)."""
    if document.status != DocumentStatus.READY:
        raise DocumentNotReadyError(
            f"document {document.id} is {document.status}"
            + (f": {document.error}" if document.error else "")
        )
    return [
        Page(
            index=row.index,
            image=Image.open(settings.data_dir / row.image_path),
            dpi=row.dpi,
            text_source=TextSource(row.text_source),
            words=decode_words(row.words, row.index),
        )
        for row in document.pages
    ]


def ground_text(
    text: str, pages: Sequence[Page], engine_confidence: float | None, near: Box | None
) -> Grounded:
    """Boxes for `text` on the pages, and the combined confidence (see module doc)."""
    if not text.strip():
        return Grounded([], 0.0)
    base = engine_confidence if engine_confidence is not None else 1.0
    match = ground(text, [page.words for page in pages], near=near)
    if match is None:
        return Grounded([], base * UNGROUNDED_PENALTY)
    return Grounded(match.boxes, base * match.score)


def ask(
    *,
    sessions: sessionmaker,
    settings: Settings,
    engine: Engine,
    document_id: int,
    question: str,
    page: int | None = None,
) -> Answer:
    """Ask one question about a page (or every page, keeping the best answer); stored."""
    with sessions() as session:
        document = session.get_one(Document, document_id)
        pages = load_pages(settings, document)
        if page is not None and not 0 <= page < len(pages):
            raise ValueError(f"document {document_id} has no page {page} (0..{len(pages) - 1})")
        targets = [p for p in pages if page is None or p.index == page]
        answers = engine.answer(pages, [Question(p.index, question) for p in targets])
        scored = []
        for answer in answers:
            page_of = [pages[answer.question.page]]
            near = answer.boxes[0] if answer.boxes else None
            scored.append((answer, ground_text(answer.text, page_of, answer.confidence, near)))
        best, grounded = max(scored, key=lambda item: (bool(item[0].text), item[1].confidence or 0))
        values = {
            "document_id": document_id,
            "page_index": best.question.page,
            "question": question,
            "question_sha256": hashlib.sha256(question.strip().encode()).hexdigest(),
            "answer": best.text,
            **_result_columns(engine, grounded),
        }
        upsert(session, Answer, values, ANSWER_KEY)
        session.commit()
        return session.scalars(select(Answer).filter_by(**_key(values, ANSWER_KEY))).one()


def extract(
    *,
    sessions: sessionmaker,
    settings: Settings,
    engine: Engine,
    document_id: int,
    schema: FieldSchema,
) -> list[FieldResult]:
    """Extract every field of `schema` from the document; stored, in schema order."""
    with sessions() as session:
        document = session.get_one(Document, document_id)
        pages = load_pages(settings, document)
        specs = [definition.spec() for definition in schema.fields]
        rows = []
        for spec, value in zip(specs, engine.extract(pages, specs), strict=True):
            rows.append(_field_values(document_id, schema.name, spec, value, pages, engine))
        for values in rows:
            upsert(session, FieldResult, values, FIELD_KEY)
        session.commit()
        return [
            session.scalars(select(FieldResult).filter_by(**_key(v, FIELD_KEY))).one() for v in rows
        ]


def _field_values(
    document_id: int,
    schema: str,
    spec: FieldSpec,
    value: FieldValue,
    pages: list[Page],
    engine: Engine,
) -> dict[str, Any]:
    text = value.text.strip()
    page_pages = [pages[value.page]] if value.page is not None else pages
    near = value.boxes[0] if value.boxes else None
    rows = _rows(text)
    if rows is not None:
        grounded = _ground_rows(rows, page_pages, value.confidence)
    else:
        grounded = ground_text(text, page_pages, value.confidence, near)
    page = grounded.boxes[0].page if grounded.boxes else value.page
    return {
        "document_id": document_id,
        "schema_name": schema,
        "name": spec.name,
        "type": spec.type,
        "value": normalize(spec.type, text) if text else None,
        "raw_text": text or None,
        "page_index": page,
        **_result_columns(engine, grounded),
    }


def _rows(text: str) -> list[dict[str, Any]] | None:
    """A repeated field's value: a JSON list of row objects (line items), else None."""
    if not text.startswith("["):
        return None
    try:
        rows = json.loads(text)
    except ValueError:
        return None
    return rows if isinstance(rows, list) and all(isinstance(r, dict) for r in rows) else None


def _ground_rows(
    rows: list[dict[str, Any]], pages: Sequence[Page], engine_confidence: float | None
) -> Grounded:
    """Each row grounded by its description: one box per row found; confidence scaled by
    the share of rows found."""
    boxes, found = [], 0
    for row in rows:
        grounded = ground_text(str(row.get("description") or ""), pages, None, None)
        if grounded.boxes:
            boxes.extend(grounded.boxes)
            found += 1
    base = engine_confidence if engine_confidence is not None else 1.0
    return Grounded(boxes, base * found / len(rows) if rows else 0.0)


def _result_columns(engine: Engine, grounded: Grounded) -> dict[str, Any]:
    return {
        "engine": engine.name,
        "model": engine.model_name,
        "model_revision": engine.model_revision,
        "prompt_version": engine.prompt_version,
        "confidence": grounded.confidence,
        "boxes": encode_boxes(grounded.boxes),
    }


def _unique_key(model: type[Base], name: str) -> tuple[str, ...]:
    """The columns of a model's named unique constraint: the result key of DESIGN.md."""
    for constraint in Base.metadata.tables[model.__tablename__].constraints:
        if isinstance(constraint, UniqueConstraint) and constraint.name == name:
            return tuple(column.name for column in constraint.columns)
    raise LookupError(f"{model.__name__} has no constraint {name}")


ANSWER_KEY = _unique_key(Answer, "uq_answer_key")
FIELD_KEY = _unique_key(FieldResult, "uq_field_key")


def _key(values: dict[str, Any], key: Sequence[str]) -> dict[str, Any]:
    return {column: values[column] for column in key}
