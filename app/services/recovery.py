"""Interrupted and lost work, found in the database and made runnable again.

The one recovery path, run by every worker periodically, by `docfuse jobs --repair`, and by
CLI commands that process documents in-process:

- **Interrupted**: a RUNNING job whose heartbeat is older than `stale_after_s` (or whose
  in-process runner on this machine is no longer alive) becomes FAILED ("interrupted") and
  a new QUEUED attempt is created, up to `max_attempts`; after the last one an ingest job's
  document is failed with the reason, so work that kills its worker (a page that exhausts
  memory) cannot loop forever.
- **Lost**: a QUEUED job whose message is gone: never sent, sent to a broker that no longer
  holds it (Redis restarted without persistence), or handed to an in-process runner on this
  machine that died. It is sent again; if the old message does turn up, its task finds the
  job claimed and does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import (
    ACTIVE_JOB_STATUSES,
    DocumentRecord,
    DocumentStatus,
    JobKind,
    JobRecord,
    JobStatus,
    utcnow,
)
from app.read_models import as_utc
from app.services.jobs import enqueue, fail_document, fail_jobs, waiting_on

logger = logging.getLogger(__name__)

INLINE_PREFIX = "inline@"


def inline_runner_name() -> str:
    """Who runs a job in this process: host and pid, so a dead runner can be recognised."""
    return f"{INLINE_PREFIX}{socket.gethostname()}:{os.getpid()}"


def dead_local_runner(name: str | None) -> bool:
    """True for an in-process runner of this machine whose process has exited."""
    if not name or not name.startswith(INLINE_PREFIX):
        return False
    host, _, pid = name.removeprefix(INLINE_PREFIX).rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class Recovery:
    """What one pass found: new attempts and lost jobs to dispatch, and jobs given up."""

    retried: list[int] = field(default_factory=list)
    resend: list[int] = field(default_factory=list)
    gave_up: list[int] = field(default_factory=list)

    @property
    def to_dispatch(self) -> list[int]:
        return sorted({*self.retried, *self.resend})


def recover(
    *, session: Session, settings: Settings, waiting: set[str] | None, now: datetime | None = None
) -> Recovery:
    """One pass over interrupted and lost jobs (commits). `waiting` holds the task ids the
    broker still holds; None means no broker (jobs run in-process)."""
    now = now or utcnow()
    recovery = Recovery()
    for job in _stale_running(session, now - timedelta(seconds=settings.stale_after_s)):
        _retry_interrupted(session, settings, job, recovery)
    recovery.resend = _lost_queued(session, settings, waiting, now)
    return recovery


def _stale_running(session: Session, cutoff: datetime) -> list[JobRecord]:
    running = session.scalars(
        select(JobRecord).where(JobRecord.status == JobStatus.RUNNING).order_by(JobRecord.id)
    ).all()
    return [
        job
        for job in running
        if job.heartbeat_at is None
        or as_utc(job.heartbeat_at) < cutoff
        or dead_local_runner(job.worker)
    ]


def _retry_interrupted(
    session: Session, settings: Settings, job: JobRecord, recovery: Recovery
) -> None:
    since = as_utc(job.heartbeat_at or job.created_at).isoformat(timespec="seconds")
    reason = f"interrupted: no heartbeat from {job.worker or 'its runner'} since {since}"
    flipped = session.execute(
        update(JobRecord)
        .where(
            JobRecord.id == job.id,
            JobRecord.status == JobStatus.RUNNING,
            JobRecord.heartbeat_at == job.heartbeat_at,  # IS NULL when it never beat
        )
        .values(status=JobStatus.FAILED, message=reason, finished_at=utcnow())
        .returning(JobRecord.id)
        .execution_options(synchronize_session=False)
    ).first()
    if flipped is None:  # it beat meanwhile, or another reconciler took it
        session.rollback()
        return
    if job.attempt >= settings.max_attempts:
        last = f"{reason} (attempt {job.attempt} of {settings.max_attempts}; giving up)"
        if job.kind == JobKind.INGEST:
            fail_document(session, job.document_id, last)
        fail_jobs(session, waiting_on(session, job.id), f"the document failed: {last}")
        recovery.gave_up.append(job.id)
        logger.warning("job %s %s; attempt %s was the last", job.id, reason, job.attempt)
    else:
        retry = enqueue(
            session,
            document_id=job.document_id,
            kind=JobKind(job.kind),
            payload=job.payload,
            engine=job.engine,
            attempt=job.attempt + 1,
            retry_of=job.id,
            parent_id=job.parent_id,
        )
        if retry is not None and job.kind == JobKind.INGEST:
            _back_to_pending(session, job.document_id)
            _wait_on(session, waiting_on(session, job.id), retry)
        if retry is not None:
            recovery.retried.append(retry)
        logger.warning("job %s %s; retrying as job %s", job.id, reason, retry)
    session.commit()


def _back_to_pending(session: Session, document_id: int) -> None:
    session.execute(
        update(DocumentRecord)
        .where(DocumentRecord.id == document_id, DocumentRecord.status != DocumentStatus.READY)
        .values(status=DocumentStatus.PENDING)
        .execution_options(synchronize_session=False)
    )


def _wait_on(session: Session, job_ids: list[int], parent_id: int) -> None:
    """Jobs that waited for an interrupted attempt wait for its retry instead."""
    session.execute(
        update(JobRecord)
        .where(JobRecord.id.in_(job_ids))
        .values(parent_id=parent_id)
        .execution_options(synchronize_session=False)
    )


def _lost_queued(
    session: Session, settings: Settings, waiting: set[str] | None, now: datetime
) -> list[int]:
    grace = now - timedelta(seconds=settings.resend_after_s)
    queued = session.scalars(
        select(JobRecord).where(JobRecord.status == JobStatus.QUEUED).order_by(JobRecord.id)
    ).all()
    parents = {job.parent_id for job in queued if job.parent_id is not None}
    active = set(
        session.scalars(
            select(JobRecord.id).where(
                JobRecord.id.in_(parents), JobRecord.status.in_(ACTIVE_JOB_STATUSES)
            )
        ).all()
    )
    return [
        job.id
        for job in queued
        if job.parent_id not in active  # waiting for its parent, not lost
        and _message_lost(job, waiting, grace)
    ]


def _message_lost(job: JobRecord, waiting: set[str] | None, grace: datetime) -> bool:
    if dead_local_runner(job.task_id):
        return True
    if job.task_id is not None and job.task_id.startswith(INLINE_PREFIX):
        return False  # a live runner here, or one on another machine: its own to run
    if as_utc(job.sent_at or job.created_at) >= grace:
        return False  # just sent: give the message time to arrive
    return job.task_id is None or waiting is None or job.task_id not in waiting
