"""The export use case: database rows -> `ExportDocument` models -> JSON files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.db.json_columns import decode_boxes, decode_words
from app.db.models import Answer, Document, DocumentStatus, FieldResult, Page
from app.schemas import (
    AnswerOut,
    BoxOut,
    DocumentInfo,
    ExportDocument,
    FieldOut,
    PageOut,
    Provenance,
    WordOut,
)
from pipeline.types import Box, TextSource


def export_documents(
    *, session: Session, document_ids: Sequence[int] | None = None, include_words: bool = True
) -> list[ExportDocument]:
    """Export the given documents (all when `document_ids` is None), ordered by id."""
    query = (
        select(Document)
        .options(
            selectinload(Document.pages),
            selectinload(Document.answers),
            selectinload(Document.fields),
        )
        .order_by(Document.id)
    )
    if document_ids is not None:
        query = query.where(Document.id.in_(document_ids))
    provenance = _provenance()
    return [
        _export_document(document, include_words, provenance) for document in session.scalars(query)
    ]


def write_export(
    documents: Sequence[ExportDocument], output: Path, *, per_document: bool
) -> list[Path]:
    """One JSON array in `output`, or one `<id>-<sha12>.json` per document in folder `output`."""
    if not per_document:
        output.parent.mkdir(parents=True, exist_ok=True)
        payload = [document.model_dump(mode="json", by_alias=True) for document in documents]
        output.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        return [output]
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for document in documents:
        path = output / f"{document.document.id}-{document.document.sha256[:12]}.json"
        path.write_text(document.model_dump_json(indent=2, by_alias=True) + "\n")
        written.append(path)
    return written


def _provenance() -> Provenance:
    return Provenance(
        generator=f"docfuse {version('docfuse')}",
        exported_at=datetime.now(UTC),
        ocr_engine=f"rapidocr {version('rapidocr')}",
    )


def _export_document(
    document: Document, include_words: bool, provenance: Provenance
) -> ExportDocument:
    return ExportDocument(
        document=DocumentInfo(
            id=document.id,
            sha256=document.sha256,
            filename=document.filename,
            file_type=document.file_type,
            size_bytes=document.size_bytes,
            page_count=document.page_count,
            status=DocumentStatus(document.status),
            error=document.error,
            source=document.source,
            created_at=_utc(document.created_at),
            updated_at=_utc(document.updated_at),
        ),
        pages=[_export_page(page, include_words) for page in document.pages],
        answers=[_export_answer(answer) for answer in document.answers],
        fields=[_export_field(field) for field in document.fields],
        provenance=provenance,
    )


def _export_page(page: Page, include_words: bool) -> PageOut:
    words = None
    if include_words:
        words = [
            WordOut(text=word.text, box=_coordinates(word.box), confidence=word.confidence)
            for word in decode_words(page.words, page.index)
        ]
    return PageOut(
        index=page.index,
        width=page.width,
        height=page.height,
        dpi=page.dpi,
        text_source=TextSource(page.text_source),
        words=words,
    )


def _coordinates(box: Box) -> tuple[float, float, float, float]:
    return (box.x0, box.y0, box.x1, box.y1)


def _boxes(rows: list[Any]) -> list[BoxOut]:
    return [BoxOut(page=box.page, box=_coordinates(box)) for box in decode_boxes(rows)]


def _result(row: Answer | FieldResult) -> dict[str, Any]:
    """What answers and fields share: where they are, how sure, and who produced them."""
    return {
        "boxes": _boxes(row.boxes),
        "grounded": bool(row.boxes),
        "confidence": row.confidence,
        "engine": row.engine,
        "model": row.model,
    }


def _export_answer(answer: Answer) -> AnswerOut:
    return AnswerOut(
        question=answer.question,
        answer=answer.answer,
        page=answer.page_index,
        model_revision=answer.model_revision,
        created_at=_utc(answer.created_at),
        **_result(answer),
    )


def _export_field(field: FieldResult) -> FieldOut:
    return FieldOut(
        schema_name=field.schema_name,
        name=field.name,
        type=field.type,
        value=field.value,
        raw_text=field.raw_text,
        page=field.page_index,
        **_result(field),
    )


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
