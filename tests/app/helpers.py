"""Driving the services as the CLI does, in-process: submit, dispatch, read back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.config import Settings
from app.db import open_database
from app.db.keys import question_sha256
from app.db.models import AnswerRecord, DocumentRecord, FieldRecord, utcnow
from app.dispatch import Dispatcher
from app.read_models import Submission
from app.schemas import CorrectionOut, DocumentInfo
from app.services.analysis import JobResults, job_results, run_analysis_jobs, submit_analysis
from app.services.corrections import correct_field
from app.services.documents import get_document
from app.services.ingest import submit_file
from app.services.pages import load_pages
from app.services.payloads import AnalysisRequest, IngestPayload
from pipeline.engines.base import Engine
from pipeline.types import Page


@dataclass(frozen=True)
class Ingested:
    submission: Submission
    document: DocumentInfo | None

    @property
    def document_id(self) -> int:
        assert self.document is not None, self.submission.reason
        return self.document.id

    @property
    def reason(self) -> str | None:
        return self.document.error if self.document else self.submission.reason


def ingest(
    settings: Settings, path: Path, *, then: AnalysisRequest | None = None, dpi: int | None = None
) -> Ingested:
    """Submit a file and run its jobs here, as `docfuse ingest` does without a broker."""
    sessions = open_database(settings)
    submission = submit_file(
        sessions=sessions, settings=settings, path=path, payload=IngestPayload(dpi=dpi, then=then)
    )
    Dispatcher(settings, sessions).send([submission.job_id])
    if submission.document_id is None:
        return Ingested(submission, None)
    with sessions() as session:
        return Ingested(submission, get_document(session=session, ref=submission.document_id))


def analyze(settings: Settings, document_id: int, request: AnalysisRequest) -> JobResults:
    """Queue an analysis and run it here; the stored results it asked for."""
    sessions = open_database(settings)
    with sessions() as session:
        job = submit_analysis(session=session, document_id=document_id, request=request)
    Dispatcher(settings, sessions).send([job.id])
    with sessions() as session:
        return job_results(session=session, job_id=job.id)


def queue_analyses(
    settings: Settings, documents: list[int], engine: str | None = None
) -> list[int]:
    """One queued question ("What is the total?") per document, for `engine`; the job ids."""
    request = AnalysisRequest.of(["What is the total?"], engine=engine)
    with open_database(settings)() as session:
        return [
            submit_analysis(session=session, document_id=d, request=request).id for d in documents
        ]


def run_analysis_batch(
    settings: Settings, job_id: int, engines: Callable[[str | None], Engine], wait_s: float = 0
) -> None:
    """Run an analysis job as a GPU worker would, waiting `wait_s` for its batch to fill."""
    run_analysis_jobs(
        sessions=open_database(settings),
        settings=settings,
        job_id=job_id,
        runner="gpu-worker",
        engines=engines,
        batch_wait_s=wait_s,
    )


def pages_of(settings: Settings, document_id: int) -> list[Page]:
    with open_database(settings)() as session:
        return load_pages(settings, session.get_one(DocumentRecord, document_id))


def age_heartbeat(
    settings: Settings, key: InstrumentedAttribute, value: object, seconds: float
) -> None:
    """Make the last heartbeat of the job or worker whose `key` is `value` `seconds` old."""
    with open_database(settings)() as session:
        session.execute(
            update(key.class_)
            .where(key == value)
            .values(heartbeat_at=utcnow() - timedelta(seconds=seconds))
        )
        session.commit()


# Which model a stored result came from, as the extractive engine stores it.
RESULT_KEY = {
    "engine": "extractive",
    "model": "rules",
    "model_revision": "1",
    "prompt_version": "1",
}


def answer_record(document_id: int, question: str, answer: str, **columns: object) -> AnswerRecord:
    """An answer on page 0, as an engine stores it; `columns` override any column."""
    values = {"page_index": 0, **RESULT_KEY, **columns}
    return AnswerRecord(
        document_id=document_id,
        question=question,
        question_sha256=question_sha256(question),
        answer=answer,
        **values,
    )


def field_record(document_id: int, name: str, value: str, **columns: object) -> FieldRecord:
    """A field of the invoice schema on page 0, as an engine stores it; `columns` override
    any column."""
    values = {"schema_name": "invoice", "type": "string", "page_index": 0, **RESULT_KEY, **columns}
    return FieldRecord(document_id=document_id, name=name, value=value, **values)


def correct_invoice_field(
    session: Session,
    settings: Settings,
    document_id: int,
    name: str,
    text: str,
    list_index: int = 0,
) -> CorrectionOut:
    """A person's value for one field (or one row of it) of the invoice schema."""
    return correct_field(
        session=session,
        settings=settings,
        document_id=document_id,
        schema_name="invoice",
        field_name=name,
        text=text,
        list_index=list_index,
    )
