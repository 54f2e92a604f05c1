"""The job state machine: QUEUED -> RUNNING -> DONE | FAILED | CANCELLED.

A job row is one attempt at a unit of work (ingest a document, or analyze one). The
database, not the broker, says what is to be done:

- `enqueue` commits a QUEUED job; only then is it dispatched (run here, or sent to Celery).
  At most one ingest job per document is active: a second submission finds the first.
- `claim` moves QUEUED -> RUNNING in one conditional UPDATE, so of two deliveries of the
  same task (a redelivered message, a resent one) exactly one does the work and the other
  finds its job no longer queued and does nothing.
- `complete` moves RUNNING -> DONE or FAILED, again conditionally and inside the caller's
  transaction: results are written only if the job is still RUNNING, so a job cancelled or
  declared interrupted meanwhile leaves nothing half-written.
- `cancel_job` moves QUEUED or RUNNING -> CANCELLED; running work notices through its
  heartbeat (app.services.heartbeat) and stops at its next boundary.
- Interrupted work (a RUNNING job whose heartbeat went stale) is FAILED and retried as a
  new attempt by app.services.recovery: the one recovery path, for workers and inline runs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from app.db.models import (
    ACTIVE_JOB_STATUSES,
    DocumentRecord,
    DocumentStatus,
    JobKind,
    JobRecord,
    JobStatus,
    utcnow,
)
from app.db.upsert import insert_if_absent
from app.errors import NotFoundError, StateError
from app.read_models import JobInfo, job_info

# The predicate of the partial unique index uq_jobs_active_ingest, for ON CONFLICT.
ACTIVE_INGEST = text("kind = 'ingest' AND status IN ('queued', 'running')")
PROGRESS_INTERVAL_S = 0.5  # at most two progress writes a second: pages can be fast


def enqueue(
    session: Session,
    *,
    document_id: int,
    kind: JobKind,
    payload: dict[str, Any],
    engine: str | None = None,
    attempt: int = 1,
    retry_of: int | None = None,
    parent_id: int | None = None,
) -> int | None:
    """Add a QUEUED job (not committed); None when the document already has an active
    ingest job (the caller reports that one instead)."""
    values = {
        "document_id": document_id,
        "kind": str(kind),
        "status": str(JobStatus.QUEUED),
        "payload": payload,
        "engine": engine,
        "attempt": attempt,
        "retry_of": retry_of,
        "parent_id": parent_id,
        "pages_done": 0,
        "pages_total": 0,
    }
    if kind is JobKind.INGEST:
        return insert_if_absent(session, JobRecord, values, ["document_id"], where=ACTIVE_INGEST)
    job = JobRecord(**values)
    session.add(job)
    session.flush()
    return job.id


def active_ingest_job(session: Session, document_id: int) -> JobRecord | None:
    return session.scalars(
        select(JobRecord).where(
            JobRecord.document_id == document_id,
            JobRecord.kind == JobKind.INGEST,
            JobRecord.status.in_(ACTIVE_JOB_STATUSES),
        )
    ).one_or_none()


def claim(session: Session, job_ids: Sequence[int], worker: str) -> list[int]:
    """QUEUED -> RUNNING for those of `job_ids` still queued; returns them (not committed)."""
    if not job_ids:
        return []
    now = utcnow()
    statement = (
        update(JobRecord)
        .where(JobRecord.id.in_(job_ids), JobRecord.status == JobStatus.QUEUED)
        .values(status=JobStatus.RUNNING, worker=worker, started_at=now, heartbeat_at=now)
        .returning(JobRecord.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(session.scalars(statement).all())


def complete(
    session: Session, job_id: int, status: JobStatus, message: str | None, pages: int = 0
) -> bool:
    """RUNNING -> `status` if the job is still running; False (nothing changed) otherwise.
    `pages` is the number of pages done. Not committed: the caller commits it together
    with the job's results."""
    statement = (
        update(JobRecord)
        .where(JobRecord.id == job_id, JobRecord.status == JobStatus.RUNNING)
        .values(
            status=status,
            message=message,
            finished_at=utcnow(),
            pages_done=pages,
            pages_total=pages,
        )
        .returning(JobRecord.id)
        .execution_options(synchronize_session=False)
    )
    return session.execute(statement).first() is not None


def waiting_on(session: Session, job_id: int) -> list[int]:
    """Queued jobs that wait for `job_id` to finish before they can run (not yet sent)."""
    return sorted(
        session.scalars(
            select(JobRecord.id).where(
                JobRecord.parent_id == job_id, JobRecord.status == JobStatus.QUEUED
            )
        ).all()
    )


def fail_jobs(session: Session, job_ids: Sequence[int], reason: str) -> None:
    """Queued jobs that can no longer run (their document failed) become FAILED."""
    session.execute(
        update(JobRecord)
        .where(JobRecord.id.in_(job_ids), JobRecord.status == JobStatus.QUEUED)
        .values(status=JobStatus.FAILED, message=reason, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def mark_sent(session: Session, job_id: int, task_id: str) -> None:
    """Record the broker message that carries a queued job (committed by the caller)."""
    session.execute(
        update(JobRecord)
        .where(JobRecord.id == job_id)
        .values(task_id=task_id, sent_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def get_job(*, session: Session, job_id: int) -> JobInfo:
    job = session.get(JobRecord, job_id)
    if job is None:
        raise NotFoundError(f"no job with id {job_id}")
    return job_info(job)


def list_jobs(
    *,
    session: Session,
    status: JobStatus | None = None,
    document_id: int | None = None,
    job_ids: Sequence[int] | None = None,
) -> list[JobInfo]:
    query = select(JobRecord).order_by(JobRecord.id)
    if status is not None:
        query = query.where(JobRecord.status == status)
    if document_id is not None:
        query = query.where(JobRecord.document_id == document_id)
    if job_ids is not None:
        query = query.where(JobRecord.id.in_(job_ids))
    return [job_info(job) for job in session.scalars(query)]


def job_tree(*, session: Session, job_ids: Sequence[int]) -> list[JobInfo]:
    """The jobs and everything they led to: retries of interrupted attempts and follow-ups.
    Work submitted as `job_ids` is finished when every job of its tree is."""
    found: dict[int, JobRecord] = {}
    frontier = list(job_ids)
    while frontier:
        rows = session.scalars(
            select(JobRecord).where(
                JobRecord.id.in_(frontier)
                | JobRecord.retry_of.in_(frontier)
                | JobRecord.parent_id.in_(frontier)
            )
        ).all()
        new = [row for row in rows if row.id not in found]
        found.update((row.id, row) for row in new)
        frontier = [row.id for row in new]
    return [job_info(found[job_id]) for job_id in sorted(found)]


def cancel_job(*, session: Session, job_id: int) -> JobInfo:
    """Cancel a queued or running job (committed). An ingest job's document is failed with
    the reason, so it can be ingested again; its pages are never half-written, because the
    running work writes them only together with DONE."""
    job = session.get(JobRecord, job_id)
    if job is None:
        raise NotFoundError(f"no job with id {job_id}")
    cancelled = session.execute(
        update(JobRecord)
        .where(JobRecord.id == job_id, JobRecord.status.in_(ACTIVE_JOB_STATUSES))
        .values(status=JobStatus.CANCELLED, message="cancelled", finished_at=utcnow())
        .returning(JobRecord.id)
        .execution_options(synchronize_session=False)
    ).first()
    if cancelled is None:
        session.rollback()
        raise StateError(f"job {job_id} is {job.status}: only queued or running jobs can stop")
    if job.kind == JobKind.INGEST:
        fail_document(session, job.document_id, f"processing was cancelled (job {job_id})")
    session.commit()
    session.refresh(job)
    return job_info(job)


def abandon(*, session: Session, runner: str, reason: str) -> list[tuple[int, str]]:
    """Close the work of an in-process runner that is stopping (Ctrl-C), committed: its
    running jobs become FAILED and the jobs it had yet to start CANCELLED, each ingest
    job's document failed with `reason` so that ingesting it again retries it. Returns
    (job id, document sha256) of the interrupted ingest attempts, whose images must go."""
    jobs = session.scalars(
        select(JobRecord).where(
            JobRecord.status.in_(ACTIVE_JOB_STATUSES),
            (JobRecord.worker == runner)
            | ((JobRecord.task_id == runner) & (JobRecord.status == JobStatus.QUEUED)),
        )
    ).all()
    interrupted = []
    for job in jobs:
        running = job.status == JobStatus.RUNNING
        job.status = JobStatus.FAILED if running else JobStatus.CANCELLED
        job.message, job.finished_at = reason, utcnow()
        if job.kind == JobKind.INGEST:
            fail_document(session, job.document_id, reason)
            if running:
                interrupted.append((job.id, job.document.sha256))
    session.commit()
    return interrupted


def fail_document(session: Session, document_id: int, reason: str) -> None:
    """Fail a document still waiting for its first reading (it has no pages yet); one that
    is ready and being read again keeps its pages until new ones replace them."""
    session.execute(
        update(DocumentRecord)
        .where(
            DocumentRecord.id == document_id,
            DocumentRecord.status.in_([DocumentStatus.PENDING, DocumentStatus.PROCESSING]),
        )
        .values(status=DocumentStatus.FAILED, error=reason)
        .execution_options(synchronize_session=False)
    )


class ProgressWriter:
    """Writes a running job's page progress every PROGRESS_INTERVAL_S: a short job writes
    none (its completion records the final count), a long one is followed page by page."""

    def __init__(self, sessions: sessionmaker, job_id: int) -> None:
        self._sessions = sessions
        self._job_id = job_id
        self._last_write = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_write < PROGRESS_INTERVAL_S:
            return
        self._last_write = now
        with self._sessions() as session:
            session.execute(
                update(JobRecord)
                .where(JobRecord.id == self._job_id)
                .values(pages_done=done, pages_total=total)
                .execution_options(synchronize_session=False)
            )
            session.commit()
