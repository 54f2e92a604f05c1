"""SQLAlchemy 2 typed models: documents, pages, jobs, answers and fields.

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

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, String, Text, UniqueConstraint
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


class Document(Timestamped, Base):
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

    pages: Mapped[list[Page]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="Page.index"
    )
    answers: Mapped[list[Answer]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="Answer.id"
    )
    fields: Mapped[list[FieldResult]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="FieldResult.id"
    )
    jobs: Mapped[list[Job]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="Job.id"
    )


class Page(Base):
    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("document_id", "index", name="uq_page_document_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    index: Mapped[int]
    width: Mapped[int]
    height: Mapped[int]
    dpi: Mapped[int | None]
    text_source: Mapped[str] = mapped_column(String(8))
    image_path: Mapped[str] = mapped_column(String(1024))
    # [[text, x0, y0, x1, y1, confidence | null], ...] with normalised coordinates.
    words: Mapped[list[Any]] = mapped_column(default=list)

    document: Mapped[Document] = relationship(back_populates="pages")


class Job(Timestamped, Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED, index=True)
    progress: Mapped[float] = mapped_column(default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(64))
    finished_at: Mapped[datetime | None]

    document: Mapped[Document] = relationship(back_populates="jobs")


class ResultKey:
    """Columns shared by answers and fields: who produced the result and how."""

    engine: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(256))
    model_revision: Mapped[str] = mapped_column(String(128))
    prompt_version: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float | None]
    # [[page, x0, y0, x1, y1], ...]
    boxes: Mapped[list[Any]] = mapped_column(default=list)


class Answer(Timestamped, ResultKey, Base):
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

    document: Mapped[Document] = relationship(back_populates="answers")


class FieldResult(Timestamped, ResultKey, Base):
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

    document: Mapped[Document] = relationship(back_populates="fields")
