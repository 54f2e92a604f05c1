"""The analysis use case: questions and field schemas answered by an engine, then stored.

`submit_analysis` queues an `analyze` job for a ready document. `run_analysis_jobs` is the
long-running part (it opens its own sessions): it claims the job and, to give a GPU full
batches, up to `analyze_batch_pages` pages more of other queued analyses; loads their pages
and closes its session; runs ONE engine batch (pipeline.analysis grounds and scores it);
then, per job, upserts the results and marks it DONE in one transaction, provided the job
is still RUNNING (a cancelled job leaves nothing). No database session is held while the
engine runs. Results are keyed as DESIGN.md says, so a repeated analysis updates rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import UniqueConstraint, select
from sqlalchemy.orm import Session, sessionmaker

from app import interrupts
from app.config import Settings
from app.db.json_columns import encode_boxes
from app.db.keys import question_sha256
from app.db.models import (
    AnswerRecord,
    Base,
    DocumentRecord,
    DocumentStatus,
    FieldRecord,
    JobKind,
    JobRecord,
    JobStatus,
)
from app.db.upsert import upsert
from app.errors import BadInputError, DocfuseError, NotFoundError
from app.read_models import JobInfo, answer_out, field_out, job_info
from app.schemas import AnswerOut, FieldOut
from app.services.heartbeat import Heartbeat
from app.services.jobs import claim, complete, enqueue
from app.services.pages import embedded_invoice, load_pages, require_ready
from app.services.payloads import AnalysisRequest
from app.services.results import latest_answer, latest_fields
from pipeline.analysis import DocumentResults, DocumentWork, analyze_documents, page_questions
from pipeline.engines.base import Engine

logger = logging.getLogger(__name__)

EngineProvider = Callable[[str | None], Engine]
"""Gives the engine for a job's `engine` (None: the configured one), kept per process."""

CANDIDATES_PER_CLAIM = 64
CLAIM_POLL_S = 0.05


def submit_analysis(*, session: Session, document_id: int, request: AnalysisRequest) -> JobInfo:
    """Queue an `analyze` job (committed); the caller dispatches it."""
    document = session.get(DocumentRecord, document_id)
    if document is None:
        raise NotFoundError(f"no document with id {document_id}")
    check_request(document, request)
    job_id = queue_analysis(session, document_id, request)
    session.commit()
    return job_info(session.get_one(JobRecord, job_id))


def queue_analysis(
    session: Session,
    document_id: int,
    request: AnalysisRequest | None,
    parent_id: int | None = None,
) -> int | None:
    """Queue `request` for the document (not committed); None when nothing was asked."""
    if request is None or request.empty:
        return None
    return enqueue(
        session,
        document_id=document_id,
        kind=JobKind.ANALYZE,
        payload=request.to_json(),
        engine=request.engine,
        parent_id=parent_id,
    )


def check_request(document: DocumentRecord, request: AnalysisRequest) -> None:
    """Refuse what cannot be answered, before it is queued."""
    require_ready(document)
    if request.empty:
        raise BadInputError("nothing to do: give a question or a field schema")
    for question in request.questions:
        if question.page is not None and question.page >= document.page_count:
            raise BadInputError(
                f"document {document.id} has no page {question.page} "
                f"(pages 0..{document.page_count - 1})"
            )


@dataclass(frozen=True)
class JobResults:
    """The stored answers and fields an analysis job asked for (the latest of each)."""

    job: JobInfo
    answers: list[AnswerOut]
    fields: list[FieldOut]


def job_results(*, session: Session, job_id: int) -> JobResults:
    job = session.get(JobRecord, job_id)
    if job is None:
        raise NotFoundError(f"no job with id {job_id}")
    request = AnalysisRequest.model_validate(job.payload)
    answers = [
        answer_out(row)
        for question in request.questions
        if (row := latest_answer(session, job.document_id, question.text)) is not None
    ]
    fields = []
    if request.field_schema is not None:
        schema = request.field_schema
        rows = latest_fields(session, job.document_id, schema.name)
        fields = [field_out(rows[d.name]) for d in schema.fields if d.name in rows]
    return JobResults(job_info(job), answers, fields)


# ----------------------------------------------------------------------------- running


@dataclass
class _Claimed:
    job_id: int
    document_id: int
    schema_name: str = ""
    work: DocumentWork | None = None
    error: str | None = None
    results: DocumentResults | None = None


def run_analysis_jobs(
    *,
    sessions: sessionmaker,
    settings: Settings,
    job_id: int,
    runner: str,
    engines: EngineProvider,
    batch_wait_s: float | None = None,
) -> list[int]:
    """Run job `job_id` and whatever other queued analyses fit its batch (long-running:
    opens its own sessions). Returns follow-up jobs to dispatch (none, today)."""
    wait_s = settings.analyze_batch_wait_s if batch_wait_s is None else batch_wait_s
    engine_name, claimed_ids = _claim_batch(sessions, settings, job_id, runner, wait_s)
    if not claimed_ids:
        return []
    with Heartbeat(sessions, claimed_ids, settings.heartbeat_interval_s) as heartbeat:
        claimed = _load(sessions, settings, claimed_ids)
        engine = engines(engine_name)
        _run_batch(engine, [c for c in claimed if c.work is not None])
        for item in claimed:
            if not heartbeat.lost(item.job_id):
                _store(sessions, engine, item)
    return []


def _claim_batch(
    sessions: sessionmaker, settings: Settings, job_id: int, runner: str, wait_s: float
) -> tuple[str | None, list[int]]:
    """Claim the job itself, then other queued analyses for the same engine while the page
    budget allows, waiting up to `wait_s` for the batch to fill."""
    with sessions() as session:
        if not claim(session, [job_id], runner):
            session.rollback()
            return None, []
        session.commit()
        job = session.get_one(JobRecord, job_id)
        engine_name, budget = job.engine, settings.analyze_batch_pages - job.document.page_count
    claimed = [job_id]
    deadline = time.monotonic() + wait_s
    while budget > 0:
        more, budget = _claim_more(sessions, runner, engine_name, budget)
        claimed.extend(more)
        if budget <= 0 or time.monotonic() >= deadline:
            break
        time.sleep(CLAIM_POLL_S)
    return engine_name, claimed


def _claim_more(
    sessions: sessionmaker, runner: str, engine: str | None, budget: int
) -> tuple[list[int], int]:
    """Claim queued analyses for `engine` that fit `budget` pages; the jobs got and the pages
    left. Jobs already claimed are RUNNING, and a job never returns to QUEUED."""
    with sessions() as session:
        candidates = session.execute(
            select(JobRecord.id, DocumentRecord.page_count)
            .join(DocumentRecord, JobRecord.document_id == DocumentRecord.id)
            .where(
                JobRecord.kind == JobKind.ANALYZE,
                JobRecord.status == JobStatus.QUEUED,
                JobRecord.engine.is_not_distinct_from(engine),
                DocumentRecord.status == DocumentStatus.READY,
            )
            .order_by(JobRecord.id)
            .limit(CANDIDATES_PER_CLAIM)
        ).all()
        pages_of, picked = dict(candidates), []
        for candidate, pages in candidates:
            if pages <= budget:
                picked.append(candidate)
                budget -= pages
        got = claim(session, picked, runner)
        session.commit()
    return got, budget + sum(pages_of[i] for i in picked if i not in got)


def _load(sessions: sessionmaker, settings: Settings, job_ids: Sequence[int]) -> list[_Claimed]:
    """Each claimed job's pages and request; a job that cannot run gets its reason."""
    claimed = []
    with sessions() as session:
        for job_id in job_ids:
            job = session.get_one(JobRecord, job_id)
            item = _Claimed(job_id, job.document_id)
            try:
                request = AnalysisRequest.model_validate(job.payload)
                item.schema_name = request.field_schema.name if request.field_schema else ""
                einvoice = (
                    embedded_invoice(settings, job.document) if request.field_schema else None
                )
                item.work = request.work(load_pages(settings, job.document), einvoice)
                page_questions(item.work)  # refuses a page the document lacks, up front
            except DocfuseError as error:
                item.work, item.error = None, str(error)
            claimed.append(item)
    return claimed


def _run_batch(engine: Engine, items: list[_Claimed]) -> None:
    """One engine batch; if it fails, each document alone, so one bad document fails
    alone and the others still get their results."""
    if not items:
        return
    try:
        results = analyze_documents(engine, [item.work for item in items if item.work])
    except Exception as error:  # a batch failure is retried document by document
        interrupts.raise_if_behind(error)
        if len(items) == 1:
            items[0].error = _reason(error)
            return
        logger.warning("engine batch of %d documents failed (%s); one by one", len(items), error)
        for item in items:
            _run_batch(engine, [item])
        return
    for item, result in zip(items, results, strict=True):
        item.results = result


def _reason(error: Exception) -> str:
    if isinstance(error, DocfuseError):
        return str(error)
    logger.error("analysis failed", exc_info=error)
    return f"internal error ({type(error).__name__}): {error}"


def _store(sessions: sessionmaker, engine: Engine, item: _Claimed) -> None:
    with sessions() as session:
        if item.results is None:
            complete(session, item.job_id, JobStatus.FAILED, item.error or "no result")
            session.commit()
            return
        answers, fields = item.results.answers, item.results.fields
        found = sum(1 for field in fields if field.value)
        summary = f"{len(answers)} answers, {len(fields)} fields ({found} found)"
        pages = len(item.work.pages) if item.work is not None else 0
        if not complete(session, item.job_id, JobStatus.DONE, summary, pages):
            session.rollback()  # cancelled or given up meanwhile: keep nothing
            return
        for answer in answers:
            values = {
                "document_id": item.document_id,
                "page_index": answer.page,
                "question": answer.question,
                "question_sha256": question_sha256(answer.question),
                "answer": answer.text,
                **_result_columns(engine, answer.boxes, answer.confidence),
            }
            upsert(session, AnswerRecord, values, ANSWER_KEY)
        for field in fields:
            values = {
                "document_id": item.document_id,
                "schema_name": item.schema_name,
                "name": field.name,
                "type": field.type,
                "value": field.value,
                "raw_text": field.raw_text,
                "page_index": field.page,
                "source": field.source,
                "row_boxes": None
                if field.row_boxes is None
                else [encode_boxes(boxes) for boxes in field.row_boxes],
                **_result_columns(engine, field.boxes, field.confidence),
            }
            upsert(session, FieldRecord, values, FIELD_KEY)
        session.commit()


def _result_columns(engine: Engine, boxes: list, confidence: float) -> dict[str, Any]:
    return {
        "engine": engine.name,
        "model": engine.model_name,
        "model_revision": engine.model_revision,
        "prompt_version": engine.prompt_version,
        "confidence": confidence,
        "boxes": encode_boxes(boxes),
    }


def _unique_key(model: type[Base], name: str) -> tuple[str, ...]:
    """The columns of a model's named unique constraint: the result key of DESIGN.md."""
    for constraint in Base.metadata.tables[model.__tablename__].constraints:
        if isinstance(constraint, UniqueConstraint) and constraint.name == name:
            return tuple(column.name for column in constraint.columns)
    raise LookupError(f"{model.__name__} has no constraint {name}")


ANSWER_KEY = _unique_key(AnswerRecord, "uq_answer_key")
FIELD_KEY = _unique_key(FieldRecord, "uq_field_key")
