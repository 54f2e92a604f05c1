"""The workers' registry in-process: what a worker records, when it counts as gone, and
which queues with work have no live worker (the queue tests cover it from real workers)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import open_database
from app.db.models import WorkerRecord
from app.services.ingest import submit_file
from app.services.payloads import IngestPayload
from app.services.workers import (
    beat_worker,
    list_workers,
    note_worker_model,
    queues_without_workers,
    register_worker,
    unregister_worker,
)
from tests import badfiles
from tests.app.helpers import age_heartbeat


def _register(session: Session, name: str, queues: list[str]) -> None:
    register_worker(
        session=session,
        name=name,
        host="box",
        pid=41,
        queues=queues,
        concurrency=2,
        engine="extractive",
        engine_reason="no checkpoint found",
        model="rules-3",
    )


def test_a_worker_is_listed_as_it_registered_until_it_leaves(settings: Settings) -> None:
    sessions = open_database(settings)
    with sessions() as session:
        _register(session, "w2@box", ["gpu"])
        _register(session, "w1@box", ["cpu", "gpu"])
        _register(session, "w1@box", ["cpu", "gpu"])  # a restart: still one row
        note_worker_model(session=session, name="w1@box", model="rules-3+ranker.abc")
        workers = list_workers(session=session, settings=settings)
    assert [w.name for w in workers] == ["w1@box", "w2@box"]
    first = workers[0]
    assert (first.host, first.pid, first.queues, first.concurrency) == (
        "box",
        41,
        ["cpu", "gpu"],
        2,
    )
    assert (first.engine, first.engine_reason, first.model) == (
        "extractive",
        "no checkpoint found",
        "rules-3+ranker.abc",
    )
    assert first.alive and workers[1].model == "rules-3"
    with sessions() as session:
        unregister_worker(session=session, name="w2@box")
        assert [w.name for w in list_workers(session=session, settings=settings)] == ["w1@box"]


def test_a_silent_worker_is_gone_until_it_beats_again(settings: Settings) -> None:
    sessions = open_database(settings)
    with sessions() as session:
        _register(session, "w@box", ["cpu"])
    age_heartbeat(settings, WorkerRecord.name, "w@box", settings.stale_after_s + 5)
    with sessions() as session:
        assert [w.alive for w in list_workers(session=session, settings=settings)] == [False]
    age_heartbeat(settings, WorkerRecord.name, "w@box", settings.stale_after_s - 5)
    with sessions() as session:
        assert [w.alive for w in list_workers(session=session, settings=settings)] == [True]
    age_heartbeat(settings, WorkerRecord.name, "w@box", settings.stale_after_s + 5)
    with sessions() as session:
        beat_worker(session=session, name="w@box")
        assert [w.alive for w in list_workers(session=session, settings=settings)] == [True]


def test_queues_with_work_and_no_live_reader_are_named(settings: Settings, tmp_path: Path) -> None:
    sessions = open_database(settings)
    with sessions() as session:
        assert queues_without_workers(session=session, settings=settings) == []  # no work
    submit_file(  # queued, never run: ingest work waits on the cpu queue
        sessions=sessions,
        settings=settings,
        path=badfiles.make_born_digital_pdf(tmp_path),
        payload=IngestPayload(),
    )
    with sessions() as session:
        assert queues_without_workers(session=session, settings=settings) == ["cpu"]
        _register(session, "gpu@box", ["gpu"])
        assert queues_without_workers(session=session, settings=settings) == ["cpu"]
        _register(session, "cpu@box", ["cpu"])
        assert queues_without_workers(session=session, settings=settings) == []
    age_heartbeat(settings, WorkerRecord.name, "cpu@box", settings.stale_after_s + 5)
    with sessions() as session:
        assert queues_without_workers(session=session, settings=settings) == ["cpu"]
