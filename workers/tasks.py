"""The tasks: thin and idempotent. Each takes a job id, calls the service that does the
work, and dispatches any follow-up. A delivery whose job is no longer queued (a redelivered
or resent message) does nothing: the services claim the job atomically first.

Retries are for transient faults only (the database or the broker unreachable), with
backoff; bad input never raises out of a service, it fails its document with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from celery import Task
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from app.answer_engines import engine_for
from app.config import Settings, get_settings
from app.db import open_database
from app.db.models import JobKind
from app.dispatch import Dispatcher
from app.queues import TASKS
from app.services.analysis import run_analysis_jobs
from app.services.ingest import run_ingest_job
from app.services.workers import note_worker_model
from pipeline.engines.base import Engine
from workers.celery_app import app

TRANSIENT = (OperationalError, BrokerError, RedisConnectionError)
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 20,
}


@dataclass(frozen=True)
class _Process:
    """What a worker process builds once: settings, sessions, a dispatcher."""

    settings: Settings
    sessions: sessionmaker
    dispatcher: Dispatcher


@lru_cache(maxsize=1)
def _process() -> _Process:
    settings = get_settings()
    sessions = open_database(settings)
    return _Process(settings, sessions, Dispatcher(settings, sessions))


def _runner(task: Task) -> str:
    return f"{task.request.hostname}:{os.getpid()}"


@app.task(name=TASKS[JobKind.INGEST], bind=True, **RETRY)
def ingest(self: Task, job_id: int) -> None:
    """Open the document, read its pages (text layer or OCR), store them."""
    process = _process()
    followups = run_ingest_job(
        sessions=process.sessions, settings=process.settings, job_id=job_id, runner=_runner(self)
    )
    process.dispatcher.send(followups)


@app.task(name=TASKS[JobKind.ANALYZE], bind=True, **RETRY)
def analyze(self: Task, job_id: int) -> None:
    """Answer the job's questions and fields, batched with other queued analyses."""
    process = _process()
    followups = run_analysis_jobs(
        sessions=process.sessions,
        settings=process.settings,
        job_id=job_id,
        runner=_runner(self),
        engines=lambda name: _engine(process, self.request.hostname, name),
    )
    process.dispatcher.send(followups)


def _engine(process: _Process, worker: str, name: str | None) -> Engine:
    """The engine for a job, built once per process; the worker's own engine's model
    revision goes to the registry the first time."""
    engine = engine_for(process.settings, name)
    if name is None:
        _note_model(process, worker, engine.model_revision)
    return engine


_noted: set[tuple[str, str]] = set()


def _note_model(process: _Process, worker: str, revision: str) -> None:
    if (worker, revision) in _noted:
        return
    with process.sessions() as session:
        note_worker_model(session=session, name=worker, model=revision)
    _noted.add((worker, revision))
