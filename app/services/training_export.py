"""Corrections as training data: the LLaVA conversation format Florence-VL is trained on.

Every corrected or confirmed field or answer becomes one example: the page image it is about,
the question the engine asks for it, and the person's value as the answer. Examples are split
into train and validation BY DOCUMENT (a hash of its content): pages of one document look
alike, so a split by page would score the model on pages it has all but seen.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import AnswerRecord, CorrectionRecord, DocumentRecord, FieldRecord
from app.services.pages import page_image_file
from model.chat_templates import IMAGE_PLACEHOLDER  # what model/training.py reads back
from pipeline.fields.schemas import FieldDefinition, FieldSchema, SchemaError, load_schema

VALIDATION_SHARE = 0.2  # of documents, chosen by the hash of their content
TRAIN_FILE, VALIDATION_FILE = "train.json", "validation.json"


@dataclass(frozen=True)
class TrainingExample:
    document_sha256: str
    page_index: int
    question: str
    answer: str

    @property
    def image(self) -> str:
        """The page image's path inside the training folder."""
        return f"images/{self.document_sha256[:16]}-p{self.page_index}.png"

    def conversation(self, number: int) -> dict[str, object]:
        return {
            "id": f"{self.document_sha256[:16]}-{number}",
            "image": self.image,
            "conversations": [
                {"from": "human", "value": f"{IMAGE_PLACEHOLDER}\n{self.question}"},
                {"from": "gpt", "value": self.answer},
            ],
        }


@dataclass(frozen=True)
class TrainingSet:
    train: int
    validation: int
    documents: int


def training_examples(
    session: Session,
    *,
    schema: FieldSchema | None = None,
    since: datetime | None = None,
) -> tuple[list[TrainingExample], list[str]]:
    """The examples corrections give, and why the others give none (one line each).

    With `schema`, only that schema's fields (asked its questions); without, every field and
    answer, fields asked their built-in schema's question (or the one made of their name).
    """
    query = select(CorrectionRecord).order_by(CorrectionRecord.document_id, CorrectionRecord.id)
    if schema is not None:
        query = query.where(CorrectionRecord.schema_name == schema.name)
    if since is not None:
        query = query.where(CorrectionRecord.updated_at >= since)
    examples, skipped = [], []
    schemas: dict[str, FieldSchema | None] = {} if schema is None else {schema.name: schema}
    for correction in session.scalars(query):
        answer = correction.raw_text or correction.value
        page = _page_of(session, correction)
        definition = correction_definition(correction, schemas)
        where = f"document {correction.document_id}, {correction.target}"
        if not answer:
            skipped.append(f"{where}: no value (the person cleared it)")
        elif page is None:
            skipped.append(f"{where}: not found on any one page")
        elif correction.list_index or (definition is not None and definition.repeated):
            skipped.append(f"{where}: a row of a list (one question yields every row)")
        else:
            question = definition.spec().question if definition else correction.question or ""
            examples.append(TrainingExample(correction.document.sha256, page, question, answer))
    return examples, skipped


def write_training_set(
    session: Session, settings: Settings, examples: list[TrainingExample], out_dir: Path
) -> TrainingSet:
    """`out_dir/train.json`, `validation.json` and `images/`, split by document."""
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    split: dict[str, list[dict[str, object]]] = {TRAIN_FILE: [], VALIDATION_FILE: []}
    documents = {
        doc.sha256: doc
        for doc in session.scalars(
            select(DocumentRecord).where(
                DocumentRecord.sha256.in_({e.document_sha256 for e in examples})
            )
        )
    }
    validating = _validation_documents(documents)
    for number, example in enumerate(examples):
        target = out_dir / example.image
        if not target.exists():  # a page with several values is copied once
            document = documents[example.document_sha256]
            shutil.copyfile(page_image_file(settings, document, example.page_index), target)
        name = VALIDATION_FILE if example.document_sha256 in validating else TRAIN_FILE
        split[name].append(example.conversation(number))
    for name, rows in split.items():
        (out_dir / name).write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    return TrainingSet(len(split[TRAIN_FILE]), len(split[VALIDATION_FILE]), len(documents))


def _validation_documents(documents: Iterable[str]) -> set[str]:
    """About VALIDATION_SHARE of the documents (by sha256), chosen by a hash of each; with two
    or more documents at least one goes each way."""
    ranked = sorted(documents, key=_rank)
    share = max(1, round(VALIDATION_SHARE * len(ranked))) if len(ranked) > 1 else 0
    return set(ranked[:share])


def _rank(sha256: str) -> str:
    return hashlib.sha256(f"docfuse-split:{sha256}".encode()).hexdigest()


def _page_of(session: Session, correction: CorrectionRecord) -> int | None:
    """Where the person's value was grounded, else the page of the result it corrected, else
    the only page of a one-page document."""
    if correction.page_index is not None:
        return correction.page_index
    result: FieldRecord | AnswerRecord | None = None
    if correction.field_id is not None:
        result = session.get(FieldRecord, correction.field_id)
    elif correction.answer_id is not None:
        result = session.get(AnswerRecord, correction.answer_id)
    if result is not None and result.page_index is not None:
        return result.page_index
    return 0 if correction.document.page_count == 1 else None


def correction_definition(
    correction: CorrectionRecord, schemas: dict[str, FieldSchema | None]
) -> FieldDefinition | None:
    """A field correction's definition, for the question the engine asks (None: an answer).
    From the schema named (`schemas`, filled as names come up, each schema read once), else
    the built-in schema of that name; a user's schema file not named here gives the question
    made of the field's name."""
    if correction.field_name is None:
        return None
    name = correction.schema_name or ""
    if name not in schemas:
        try:
            schemas[name] = load_schema(name)
        except SchemaError:
            schemas[name] = None
    found = schemas[name]
    if found is not None and correction.field_name in {d.name for d in found.fields}:
        return found.field(correction.field_name)
    return FieldDefinition(name=correction.field_name)
