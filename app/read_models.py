"""Read models: what services hand to the CLI, the workers and the UI, never ORM rows.

A read model is a pydantic object detached from any database session, so callers can keep
it after the session closed and the UI can cache it. Documents, pages, answers and fields
use the export models of `app.schemas` (one shape for reading and exporting); jobs, workers
and submissions have their own here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.db.json_columns import decode_boxes, decode_words
from app.db.models import (
    AnswerRecord,
    CorrectionKind,
    CorrectionRecord,
    DocumentRecord,
    DocumentStatus,
    FieldRecord,
    JobRecord,
    JobStatus,
    PageRecord,
    WorkerRecord,
)
from app.schemas import (
    AnswerOut,
    BoxOut,
    CorrectionOut,
    DocumentInfo,
    FieldOut,
    PageOut,
    RowOut,
    WordOut,
)
from pipeline.ocr import reads_poorly, word_confidence
from pipeline.types import Box, TextSource

FINISHED_JOB_STATUSES = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _maybe_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


class _ReadModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobInfo(_ReadModel):
    """One attempt at a unit of work and where it stands."""

    id: int
    document_id: int
    kind: str
    status: JobStatus
    attempt: int
    retry_of: int | None = Field(description="The interrupted attempt this one retries.")
    parent_id: int | None = Field(description="The job that queued this one as follow-up.")
    engine: str | None = Field(description="Engine asked for; None means the worker's own.")
    questions: list[str]
    schema_name: str | None
    task_id: str | None
    worker: str | None
    pages_done: int
    pages_total: int
    message: str | None
    created_at: datetime
    sent_at: datetime | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_JOB_STATUSES


class WorkerInfo(_ReadModel):
    """A registered worker process; `alive` when its heartbeat is recent."""

    name: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    engine: str
    engine_reason: str
    model: str
    started_at: datetime
    heartbeat_at: datetime
    alive: bool


class SubmitOutcome(StrEnum):
    """What happened to a file handed to docfuse."""

    QUEUED = "queued"  # new or retried: an ingest job was created
    KNOWN = "known"  # already ready (any follow-up analysis was queued)
    BUSY = "busy"  # another job is processing it right now
    REFUSED = "refused"  # never stored: unreadable, too large, not a regular file


class Submission(_ReadModel):
    source: str = Field(description="The path or upload name as given.")
    outcome: SubmitOutcome
    document_id: int | None = None
    job_id: int | None = Field(None, description="The job that will do the work, if any.")
    reason: str | None = None


def job_info(job: JobRecord) -> JobInfo:
    payload = job.payload or {}
    source = payload.get("then", payload) or {}
    schema = source.get("schema") or {}
    return JobInfo(
        id=job.id,
        document_id=job.document_id,
        kind=job.kind,
        status=JobStatus(job.status),
        attempt=job.attempt,
        retry_of=job.retry_of,
        parent_id=job.parent_id,
        engine=job.engine,
        questions=[question["text"] for question in source.get("questions", [])],
        schema_name=schema.get("name"),
        task_id=job.task_id,
        worker=job.worker,
        pages_done=job.pages_done,
        pages_total=job.pages_total,
        message=job.message,
        created_at=as_utc(job.created_at),
        sent_at=_maybe_utc(job.sent_at),
        started_at=_maybe_utc(job.started_at),
        heartbeat_at=_maybe_utc(job.heartbeat_at),
        finished_at=_maybe_utc(job.finished_at),
    )


def worker_info(worker: WorkerRecord, *, alive: bool) -> WorkerInfo:
    return WorkerInfo(
        name=worker.name,
        host=worker.host,
        pid=worker.pid,
        queues=worker.queues.split(","),
        concurrency=worker.concurrency,
        engine=worker.engine,
        engine_reason=worker.engine_reason,
        model=worker.model,
        started_at=as_utc(worker.started_at),
        heartbeat_at=as_utc(worker.heartbeat_at),
        alive=alive,
    )


def document_info(document: DocumentRecord) -> DocumentInfo:
    return DocumentInfo(
        id=document.id,
        sha256=document.sha256,
        filename=document.filename,
        file_type=document.file_type,
        size_bytes=document.size_bytes,
        page_count=document.page_count,
        status=DocumentStatus(document.status),
        error=document.error,
        source=document.source,
        created_at=as_utc(document.created_at),
        updated_at=as_utc(document.updated_at),
    )


def page_out(page: PageRecord, include_words: bool) -> PageOut:
    ocr = page.text_source == TextSource.OCR
    # A text-layer page's words are decoded only when they are exported.
    decoded = decode_words(page.words, page.index) if ocr or include_words else []
    confidence = word_confidence(decoded) if ocr else None
    return PageOut(
        index=page.index,
        width=page.width,
        height=page.height,
        dpi=page.dpi,
        text_source=TextSource(page.text_source),
        ocr_confidence=None if confidence is None else round(confidence, 4),
        ocr_poor=ocr and reads_poorly(decoded),
        words=[
            WordOut(text=word.text, box=_coordinates(word.box), confidence=word.confidence)
            for word in decoded
        ]
        if include_words
        else None,
    )


def answer_out(answer: AnswerRecord, corrections: Sequence[CorrectionRecord] = ()) -> AnswerOut:
    return AnswerOut(
        question=answer.question,
        answer=answer.answer,
        page=answer.page_index,
        model_revision=answer.model_revision,
        created_at=as_utc(answer.created_at),
        corrections=[correction_out(c) for c in corrections],
        **_result(answer),
    )


def field_out(field: FieldRecord, corrections: Sequence[CorrectionRecord] = ()) -> FieldOut:
    return FieldOut(
        schema_name=field.schema_name,
        name=field.name,
        type=field.type,
        value=field.value,
        raw_text=field.raw_text,
        page=field.page_index,
        model_revision=field.model_revision,
        source=field.source,
        rows=_rows(field),
        corrections=[correction_out(c) for c in corrections],
        **_result(field),
    )


def correction_out(correction: CorrectionRecord) -> CorrectionOut:
    return CorrectionOut(
        kind=CorrectionKind(correction.kind),
        list_index=correction.list_index,
        value=correction.value,
        raw_text=correction.raw_text,
        page=correction.page_index,
        boxes=_boxes(correction.boxes),
        grounded=bool(correction.boxes),
        made_at=as_utc(correction.updated_at),
    )


def _coordinates(box: Box) -> tuple[float, float, float, float]:
    return (box.x0, box.y0, box.x1, box.y1)


def _rows(field: FieldRecord) -> list[RowOut] | None:
    """A list field's rows, from its stored JSON value, with its boxes row by row."""
    if field.row_boxes is None:
        return None
    values = json.loads(field.value or "[]")
    return [
        RowOut(value=value, boxes=_boxes(boxes))
        for value, boxes in zip(values, field.row_boxes, strict=True)
    ]


def _boxes(rows: list[Any]) -> list[BoxOut]:
    return [BoxOut(page=box.page, box=_coordinates(box)) for box in decode_boxes(rows)]


def _result(row: AnswerRecord | FieldRecord) -> dict[str, Any]:
    """What answers and fields share: where they are, how sure, and who produced them."""
    return {
        "boxes": _boxes(row.boxes),
        "grounded": bool(row.boxes),
        "confidence": row.confidence,
        "engine": row.engine,
        "model": row.model,
    }
