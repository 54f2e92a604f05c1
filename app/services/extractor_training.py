"""`docfuse train-extractor`: the candidate ranker retrained on a user's own documents.

Training data comes from three places, combined:
- the candidate sets docfuse ships (pipeline/engines/extractor-sets.npz, built from the
  development data), so that a few corrections add to what it knows instead of replacing it;
- labelled folders (`docfuse eval`'s `docfuse` and `sroie` formats), read in-process;
- the user's corrections and confirmations of fields: each corrected document is labelled
  with the values a person gave, weighed CORRECTION_WEIGHT times a development document
  (the user's own layouts are the ones that matter to them).

The ranker is written where the extractive engine finds it (Settings.ranker_file), so the
next extraction uses it, and its version names the results it produces.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import CorrectionRecord, DocumentRecord, DocumentStatus, FieldRecord
from app.evaluation.calibration import accuracy_when_confident, expected_calibration_error
from app.evaluation.gold import GOLD_READERS
from app.services.pages import load_pages
from pipeline.engines.base import FieldSpec
from pipeline.engines.ranker_training import FieldSet, LabelledDocument, cross_validate
from pipeline.fields.schemas import FieldSchema, SchemaError, load_schema
from pipeline.pages import PageOptions, open_document

CORRECTION_WEIGHT = 3.0
Progress = Callable[[int, int], None]


def folder_documents(
    folder: Path, fmt: str, settings: Settings, progress: Progress | None = None
) -> Iterator[LabelledDocument]:
    """The labelled documents of a `docfuse` or `sroie` folder, pages read (and OCR'd) here.
    A file that cannot be read raises, naming it: training data is the user's own choice."""
    if fmt not in GOLD_READERS:
        raise ValueError(f"unknown format {fmt!r} for training; use one of {sorted(GOLD_READERS)}")
    gold = GOLD_READERS[fmt](folder)
    fields = [definition.spec() for definition in gold.schema.fields]
    options = PageOptions(dpi=settings.dpi, max_page_pixels=settings.max_page_pixels)
    for done, document in enumerate(gold.documents, start=1):
        with open_document(document.path.read_bytes(), options) as opened:
            pages = list(opened.pages())
        yield LabelledDocument(
            f"{folder.name}/{document.path.name}", document.family, pages, fields, document.values
        )
        if progress:
            progress(done, len(gold.documents))


def corrected_documents(session: Session, settings: Settings) -> list[LabelledDocument]:
    """Every ready document with corrected or confirmed single-valued fields, labelled with
    the person's values, one labelled document per (document, schema)."""
    query = (
        select(CorrectionRecord)
        .where(CorrectionRecord.field_name.is_not(None), CorrectionRecord.list_index == 0)
        .order_by(CorrectionRecord.document_id, CorrectionRecord.id)
    )
    grouped: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
    types: dict[str, str] = {}
    for correction in session.scalars(query):
        value = correction.raw_text or correction.value
        if not value or not correction.field_name:
            continue
        grouped[(correction.document_id, correction.schema_name or "")][correction.field_name] = (
            value
        )
        result = session.get(FieldRecord, correction.field_id) if correction.field_id else None
        if result is not None:
            types[correction.field_name] = result.type
    documents = []
    for (document_id, schema_name), values in grouped.items():
        record = session.get_one(DocumentRecord, document_id)
        fields = _fields(schema_name, values, types)
        if record.status != DocumentStatus.READY or not fields:
            continue
        documents.append(
            LabelledDocument(
                f"document {document_id}",
                f"document/{record.sha256}",
                load_pages(settings, record),
                fields,
                values,
                CORRECTION_WEIGHT,
            )
        )
    return documents


def _fields(schema_name: str, values: dict[str, str], types: dict[str, str]) -> list[FieldSpec]:
    """The corrected fields as the schema defines them (type, labels); for a schema docfuse
    cannot find by name (a user's file), fields of the name and type the results had."""
    schema: FieldSchema | None
    try:
        schema = load_schema(schema_name)
    except SchemaError:
        schema = None
    defined = {d.name: d.spec() for d in schema.fields} if schema else {}
    return [defined.get(name, FieldSpec(name, types.get(name, "string"))) for name in values]


def cross_validation_report(sets: list[FieldSet]) -> dict[str, Any]:
    """Per field, the held-out accuracy of the rules and of the ranker and the share of
    fields any candidate had right; per document, all fields right; and calibration."""
    result = cross_validate(sets)
    documents = list(result.documents.values())
    confident, count = accuracy_when_confident(result.judged)
    return {
        "fields": {
            name: {
                "n": score.n,
                "rules": round(score.rules / score.n, 4),
                "ranker": round(score.ranker / score.n, 4),
                "reachable": round(score.reachable / score.n, 4),
            }
            for name, score in result.fields.items()
        },
        "all_fields": {
            "n": len(documents),
            "rules": round(sum(rules for rules, _ in documents) / len(documents), 4),
            "ranker": round(sum(ranker for _, ranker in documents) / len(documents), 4),
        }
        if documents
        else None,
        "calibration": {
            "ece": expected_calibration_error(result.judged),
            "accuracy_at_0_9": confident,
            "n_at_0_9": count,
            "n": len(result.judged),
        },
    }
