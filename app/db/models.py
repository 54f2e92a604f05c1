"""SQLAlchemy 2 typed models: documents, pages, jobs, workers, answers, fields, corrections.

Identity follows DESIGN.md: a document is the sha256 of its bytes; an answer is keyed by
(document, page, question, engine, model revision, prompt version) and a field by
(document, schema, field name, engine, model revision, prompt version), so re-running a task
upserts instead of duplicating. Words are stored per page as one JSON list: they are always
read and written with their page, and a row per word would multiply the row count by ~500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class DocumentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DocumentRecord(Timestamped, Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(512))
    source: Mapped[str] = mapped_column(String(32), default="cli")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    file_type: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=DocumentStatus.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    page_count: Mapped[int] = mapped_column(default=0)
    dpi: Mapped[int | None]

    pages: Mapped[list[PageRecord]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="PageRecord.index"
    )
    answers: Mapped[list[AnswerRecord]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="AnswerRecord.id"
    )
    fields: Mapped[list[FieldRecord]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="FieldRecord.id"
    )
    corrections: Mapped[list[CorrectionRecord]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="CorrectionRecord.id"
    )
    jobs: Mapped[list[JobRecord]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="JobRecord.id"
    )


class PageRecord(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("document_id", "index", name="uq_page_document_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    index: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    dpi: Mapped[int | None]
    text_source: Mapped[str] = mapped_column(String(8))
    # Stored only for pages read by OCR; text-layer pages are rendered on demand.
    image_path: Mapped[str | None] = mapped_column(String(1024))
    # [[text, x0, y0, x1, y1, confidence | null], ...] with normalised coordinates.
    words: Mapped[list[Any]] = mapped_column(default=list)

    document: Mapped[DocumentRecord] = relationship(back_populates="pages")


class JobKind(StrEnum):
    INGEST = "ingest"
    ANALYZE = "analyze"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class JobRecord(Timestamped, Base):
    """One attempt at a unit of work (see app.services.jobs for the state machine).

    A retried job is a new row (`attempt` + 1, `retry_of` the interrupted one), so every
    attempt keeps its own worker, timings and outcome; a follow-up names its `parent_id`.
    At most one ingest job per document is active (queued or running): the partial unique
    index is how a document is claimed.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index(
            "uq_jobs_active_ingest",
            "document_id",
            unique=True,
            sqlite_where=text("kind = 'ingest' AND status IN ('queued', 'running')"),
            postgresql_where=text("kind = 'ingest' AND status IN ('queued', 'running')"),
        ),
        Index("ix_jobs_status_kind", "status", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    attempt: Mapped[int] = mapped_column(default=1)
    retry_of: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL", name="fk_jobs_retry_of")
    )
    # The job that queued this one as its follow-up (an ingest job's analysis).
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL", name="fk_jobs_parent_id")
    )
    # Questions, schema and follow-up work; see app.services.jobs.JobPayload.
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The answering engine asked for (analyze jobs); None means the worker's own.
    engine: Mapped[str | None] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(255))
    pages_done: Mapped[int] = mapped_column(default=0)
    pages_total: Mapped[int] = mapped_column(default=0)
    message: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    document: Mapped[DocumentRecord] = relationship(back_populates="jobs")


class WorkerRecord(Base):
    """A live (or recently live) worker process: which queues it reads, which engine answers.

    Workers upsert their row when they start and refresh `heartbeat_at` while they run; a row
    whose heartbeat is older than the staleness limit is a worker that is gone.
    """

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    queues: Mapped[str] = mapped_column(String(255))
    concurrency: Mapped[int]
    engine: Mapped[str] = mapped_column(String(32))
    engine_reason: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(512))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)


class ResultKey:
    """Columns shared by answers and fields: who produced the result and how."""

    engine: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256))
    model_revision: Mapped[str] = mapped_column(String(128))
    prompt_version: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float | None]
    # [[page, x0, y0, x1, y1], ...]
    boxes: Mapped[list[Any]] = mapped_column(default=list)


class AnswerRecord(Timestamped, ResultKey, Base):
    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint(
            "document_id",
            "page_index",
            "question_sha256",
            "engine",
            "model_revision",
            "prompt_version",
            name="uq_answer_key",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    page_index: Mapped[int]
    question: Mapped[str] = mapped_column(Text)
    # Questions can be long; the unique key uses their hash so every backend can index it.
    question_sha256: Mapped[str] = mapped_column(String(64))
    answer: Mapped[str] = mapped_column(Text)

    document: Mapped[DocumentRecord] = relationship(back_populates="answers")


class FieldRecord(Timestamped, ResultKey, Base):
    __tablename__ = "fields"
    __table_args__ = (
        UniqueConstraint(
            "document_id",
            "schema_name",
            "name",
            "engine",
            "model_revision",
            "prompt_version",
            name="uq_field_key",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    schema_name: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    value: Mapped[str | None] = mapped_column(Text)
    raw_text: Mapped[str | None] = mapped_column(Text)
    page_index: Mapped[int | None]
    # "page" (the engine read it) or the embedded e-invoice it was taken from.
    source: Mapped[str] = mapped_column(String(64), server_default="page")
    # A repeated field's boxes row by row (each row's encoded boxes), else None.
    row_boxes: Mapped[list[Any] | None] = mapped_column(JSON)

    document: Mapped[DocumentRecord] = relationship(back_populates="fields")


class CorrectionKind(StrEnum):
    CORRECTED = "corrected"  # a person gave the right value
    CONFIRMED = "confirmed"  # a person checked the model's value and kept it


class CorrectionRecord(Timestamped, Base):
    """A person's value for a field or an answer, stored beside the model's, never over it.

    Keyed by what it is about, not by who produced the result: (document, `target`,
    list index), where `target` is `field:<schema>:<name>` or `answer:<question sha256>`.
    So a correction outlives the result it corrected (`field_id` / `answer_id` point at
    that one) and stands beside results of other engines and model revisions.
    """

    __tablename__ = "corrections"
    __table_args__ = (
        UniqueConstraint("document_id", "target", "list_index", name="uq_correction_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(256))
    list_index: Mapped[int] = mapped_column(default=0)
    schema_name: Mapped[str | None] = mapped_column(String(64))
    field_name: Mapped[str | None] = mapped_column(String(128))
    question: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str | None] = mapped_column(Text)  # normalised, as fields store theirs
    raw_text: Mapped[str | None] = mapped_column(Text)  # as the person typed it
    model_value: Mapped[str | None] = mapped_column(Text)  # the model's, when corrected
    field_id: Mapped[int | None] = mapped_column(
        ForeignKey("fields.id", ondelete="SET NULL", name="fk_corrections_field_id")
    )
    answer_id: Mapped[int | None] = mapped_column(
        ForeignKey("answers.id", ondelete="SET NULL", name="fk_corrections_answer_id")
    )
    page_index: Mapped[int | None]
    # [[page, x0, y0, x1, y1], ...]: where grounding found the person's value
    boxes: Mapped[list[Any]] = mapped_column(default=list)

    document: Mapped[DocumentRecord] = relationship(back_populates="corrections")
