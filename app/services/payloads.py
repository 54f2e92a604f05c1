"""What a job carries: the questions and field schema to answer, and ingest options.

A payload is stored on the job row as JSON, so a worker on another machine gets everything
it needs from the database: a user's schema travels as its content, never as a path.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from pipeline.analysis import AskedQuestion, DocumentWork
from pipeline.einvoice import EInvoice
from pipeline.fields.schemas import FieldSchema
from pipeline.limits import MAX_DPI, MIN_DPI
from pipeline.types import Page

MAX_QUESTION_CHARS = 2000


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> dict:
        """The form stored on the job row."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class QuestionIn(_Payload):
    text: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    page: int | None = Field(None, ge=0, description="0-based page; None asks every page.")


class AnalysisRequest(_Payload):
    """Questions and a field schema for one document: one `analyze` job."""

    questions: list[QuestionIn] = Field(default_factory=list)
    field_schema: FieldSchema | None = Field(None, alias="schema")
    engine: str | None = Field(None, description="None: the configured (worker's) engine.")

    @classmethod
    def of(
        cls,
        questions: Sequence[str],
        schema: FieldSchema | None = None,
        *,
        page: int | None = None,
        engine: str | None = None,
    ) -> AnalysisRequest:
        asked = [QuestionIn(text=q, page=page) for q in questions]
        return cls(questions=asked, field_schema=schema, engine=engine)

    @property
    def empty(self) -> bool:
        return not self.questions and self.field_schema is None

    def work(self, pages: Sequence[Page], einvoice: EInvoice | None = None) -> DocumentWork:
        """The pipeline's view of this request over a document's pages (and the e-invoice
        the file carries, whose values fields take)."""
        return DocumentWork(
            pages=pages,
            questions=[AskedQuestion(q.text.strip(), q.page) for q in self.questions],
            fields=[d.spec() for d in self.field_schema.fields] if self.field_schema else [],
            einvoice=einvoice,
        )


class IngestPayload(_Payload):
    """Options of one `ingest` job, and the analysis to queue once the pages exist."""

    dpi: int | None = Field(None, ge=MIN_DPI, le=MAX_DPI, description="None: the worker's setting.")
    then: AnalysisRequest | None = None
    again: bool = Field(False, description="Read the pages again even if they exist.")
