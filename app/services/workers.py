"""The workers' registry: which worker processes are alive, what they read, which engine.

Each worker upserts its row when it starts, refreshes `heartbeat_at` while it runs and
removes the row when it stops cleanly; a worker killed outright stops refreshing and is
shown as gone once its heartbeat is older than `stale_after_s`. The CLI's `--wait` and the
UI read it to say which engine will answer and to warn when no live worker reads a queue
that has work.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import ACTIVE_JOB_STATUSES, JobKind, JobRecord, WorkerRecord, utcnow
from app.db.upsert import upsert
from app.queues import QUEUES
from app.read_models import WorkerInfo, as_utc, worker_info


def register_worker(
    *,
    session: Session,
    name: str,
    host: str,
    pid: int,
    queues: list[str],
    concurrency: int,
    engine: str,
    engine_reason: str,
    model: str,
) -> None:
    now = utcnow()
    values = {
        "name": name,
        "host": host,
        "pid": pid,
        "queues": ",".join(queues),
        "concurrency": concurrency,
        "engine": engine,
        "engine_reason": engine_reason,
        "model": model,
        "started_at": now,
        "heartbeat_at": now,
    }
    upsert(session, WorkerRecord, values, ["name"])
    session.commit()


def beat_worker(*, session: Session, name: str) -> None:
    session.execute(
        update(WorkerRecord)
        .where(WorkerRecord.name == name)
        .values(heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()


def note_worker_model(*, session: Session, name: str, model: str) -> None:
    """Record the model revision a worker's engine actually loaded (known once it is built:
    a hub id resolves to a snapshot only when the weights are read)."""
    session.execute(
        update(WorkerRecord)
        .where(WorkerRecord.name == name)
        .values(model=model)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def unregister_worker(*, session: Session, name: str) -> None:
    session.execute(delete(WorkerRecord).where(WorkerRecord.name == name))
    session.commit()


def list_workers(*, session: Session, settings: Settings) -> list[WorkerInfo]:
    cutoff = utcnow() - timedelta(seconds=settings.stale_after_s)
    rows = session.scalars(select(WorkerRecord).order_by(WorkerRecord.name)).all()
    return [worker_info(row, alive=as_utc(row.heartbeat_at) >= cutoff) for row in rows]


def queues_without_workers(*, session: Session, settings: Settings) -> list[str]:
    """Queues that have queued or running jobs but no live worker reading them."""
    live = {
        queue
        for worker in list_workers(session=session, settings=settings)
        if worker.alive
        for queue in worker.queues
    }
    busy_kinds = session.scalars(
        select(JobRecord.kind).where(JobRecord.status.in_(ACTIVE_JOB_STATUSES)).distinct()
    ).all()
    return sorted({QUEUES[JobKind(kind)] for kind in busy_kinds} - live)
