"""The export use case: database rows -> `ExportDocument` models -> JSON files."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from app.db.keys import answer_target, field_target
from app.db.models import CorrectionRecord, DocumentRecord, FieldRecord
from app.read_models import answer_out, document_info, field_out, page_out
from app.schemas import ExportDocument, Provenance
from app.services.results import latest_fields


def export_documents(
    *, session: Session, document_ids: Sequence[int] | None = None, include_words: bool = True
) -> list[ExportDocument]:
    """Export the given documents (all when `document_ids` is None), ordered by id."""
    query = (
        select(DocumentRecord)
        .options(
            selectinload(DocumentRecord.pages),
            selectinload(DocumentRecord.answers),
            selectinload(DocumentRecord.fields),
            selectinload(DocumentRecord.corrections),
        )
        .order_by(DocumentRecord.id)
    )
    if document_ids is not None:
        query = query.where(DocumentRecord.id.in_(document_ids))
    provenance = _provenance()
    return [
        _export_document(document, include_words, provenance) for document in session.scalars(query)
    ]


def write_export(
    documents: Sequence[ExportDocument], output: Path, *, per_document: bool
) -> list[Path]:
    """One JSON array in `output`, or one `<id>-<sha12>.json` per document in folder `output`,
    each document written alike: two-space indents, text as written, keys by their aliases."""
    if not per_document:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(_json_text([_exported(document) for document in documents]))
        return [output]
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for document in documents:
        path = output / f"{document.document.id}-{document.document.sha256[:12]}.json"
        path.write_text(_json_text(_exported(document)))
        written.append(path)
    return written


def _exported(document: ExportDocument) -> dict[str, Any]:
    return document.model_dump(mode="json", by_alias=True)


def _json_text(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _provenance() -> Provenance:
    return Provenance(
        generator=f"docfuse {version('docfuse')}",
        exported_at=datetime.now(UTC),
        ocr_engine=f"rapidocr {version('rapidocr')}",
    )


def _export_document(
    document: DocumentRecord, include_words: bool, provenance: Provenance
) -> ExportDocument:
    """The document; each answer and field with the corrections of what it is about."""
    corrections = corrections_by_target(document.corrections)
    return ExportDocument(
        document=document_info(document),
        pages=[page_out(page, include_words) for page in document.pages],
        answers=[
            answer_out(answer, corrections.get(answer_target(answer.question), []))
            for answer in document.answers
        ],
        fields=[
            field_out(field, corrections.get(field_target(field.schema_name, field.name), []))
            for field in document.fields
        ],
        provenance=provenance,
    )


def corrections_by_target(
    corrections: Sequence[CorrectionRecord],
) -> dict[str, list[CorrectionRecord]]:
    grouped: dict[str, list[CorrectionRecord]] = {}
    for correction in sorted(corrections, key=lambda c: (c.target, c.list_index)):
        grouped.setdefault(correction.target, []).append(correction)
    return grouped


def field_schema_names(*, session: Session, document_ids: Sequence[int]) -> list[str]:
    """The schemas whose fields these documents have (built-in or a user's own)."""
    return list(
        session.scalars(
            select(FieldRecord.schema_name)
            .where(FieldRecord.document_id.in_(document_ids))
            .distinct()
            .order_by(FieldRecord.schema_name)
        )
    )


def fields_csv(*, session: Session, document_ids: Sequence[int], schema_name: str) -> str:
    """One row per document, one column per field of `schema_name`: a person's value where
    there is one (the first row of a list field), else the model's latest."""
    documents = session.scalars(
        select(DocumentRecord)
        .where(DocumentRecord.id.in_(document_ids))
        .options(selectinload(DocumentRecord.corrections))
        .order_by(DocumentRecord.id)
    ).all()
    rows = [(document, latest_fields(session, document.id, schema_name)) for document in documents]
    names = list(dict.fromkeys(name for _, fields in rows for name in fields))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["document_id", "filename", *names])
    for document, fields in rows:
        corrected = {
            c.field_name: c.value
            for c in document.corrections
            if c.schema_name == schema_name and c.list_index == 0
        }
        values = [corrected.get(n, fields[n].value if n in fields else None) for n in names]
        writer.writerow([document.id, document.filename, *values])  # None: an empty cell
    return out.getvalue()
