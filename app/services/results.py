"""The latest stored results: what a document's answers and fields say now.

Results are keyed by engine and model revision, so a document may hold several answers
to one question (one per engine, or per page asked). The latest written is the one shown,
corrected and exported as current.
"""

from __future__ import annotations

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from app.db.keys import question_sha256
from app.db.models import AnswerRecord, FieldRecord


def latest_answer(session: Session, document_id: int, question: str) -> AnswerRecord | None:
    return session.scalars(
        select(AnswerRecord)
        .where(
            AnswerRecord.document_id == document_id,
            AnswerRecord.question_sha256 == question_sha256(question),
        )
        .order_by(AnswerRecord.updated_at.desc(), AnswerRecord.id.desc())
        .limit(1)
    ).first()


def latest_fields(session: Session, document_id: int, schema: str) -> dict[str, FieldRecord]:
    """The latest value of each field of `schema`, by field name."""
    rows = session.scalars(
        select(FieldRecord)
        .where(FieldRecord.document_id == document_id, FieldRecord.schema_name == schema)
        .order_by(FieldRecord.updated_at, FieldRecord.id)
    ).all()
    return {row.name: row for row in rows}  # later rows win


def models_by_document(session: Session) -> dict[int, list[str]]:
    """Which models produced each document's results, as `engine:model revision` (a
    fine-tuned model's revision names its adapter), in name order."""
    produced = union(
        *(
            select(record.document_id, record.engine, record.model_revision)
            for record in (AnswerRecord, FieldRecord)
        )
    )
    models: dict[int, list[str]] = {}
    for document_id, engine, revision in session.execute(produced):
        models.setdefault(document_id, []).append(f"{engine}:{revision}")
    return {document_id: sorted(names) for document_id, names in models.items()}
