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
from app.evaluation.calibration import calibration_summary
from app.evaluation.gold import GOLD_READERS
from app.services.pages import load_pages
from app.services.training_export import correction_definition
from pipeline.engines.base import FieldSpec
from pipeline.engines.ranker_training import FieldSet, LabelledDocument, cross_validate
from pipeline.fields.schemas import FieldDefinition, FieldSchema, FieldType
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
    grouped: dict[tuple[int, str], dict[str, tuple[FieldSpec, str]]] = defaultdict(dict)
    schemas: dict[str, FieldSchema | None] = {}
    for correction in session.scalars(query):
        value = correction.raw_text or correction.value
        definition = correction_definition(correction, schemas)
        if value and definition is not None:
            spec = _as_produced(session, correction, definition)
            grouped[(correction.document_id, correction.schema_name or "")][spec.name] = (
                spec,
                value,
            )
    documents = []
    for (document_id, _), labelled in grouped.items():
        record = session.get_one(DocumentRecord, document_id)
        if record.status != DocumentStatus.READY:
            continue
        documents.append(
            LabelledDocument(
                f"document {document_id}",
                f"document/{record.sha256}",
                load_pages(settings, record),
                [spec for spec, _ in labelled.values()],
                {spec.name: value for spec, value in labelled.values()},
                CORRECTION_WEIGHT,
            )
        )
    return documents


def _as_produced(
    session: Session, correction: CorrectionRecord, definition: FieldDefinition
) -> FieldSpec:
    """The field as the engine was asked for it: its schema's definition, of the type its
    result was stored with (a user's schema file, not known by name here, gives only the
    field's name)."""
    result = session.get(FieldRecord, correction.field_id) if correction.field_id else None
    if result is not None and result.type != definition.type:
        definition = definition.model_copy(update={"type": FieldType(result.type)})
    return definition.spec()


def cross_validation_report(sets: list[FieldSet]) -> dict[str, Any]:
    """Per field, the held-out accuracy of the rules and of the ranker and the share of
    fields any candidate had right; per document, all fields right; and calibration."""
    result = cross_validate(sets)
    documents = list(result.documents.values())
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
        "calibration": calibration_summary(result.judged),
    }
