"""The job state machine in-process, on SQLite and PostgreSQL: claims, cancellation,
recovery of interrupted and lost work, batching of analyses, Ctrl-C."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from app.config import Settings
from app.db import open_database
from app.db.models import AnswerRecord, DocumentRecord, JobKind, JobRecord, JobStatus, utcnow
from app.dispatch import Dispatcher
from app.errors import NotFoundError, StateError
from app.read_models import as_utc
from app.services import jobs as jobs_module
from app.services.analysis import queue_analysis
from app.services.heartbeat import Heartbeat
from app.services.ingest import reprocess_document, submit_file
from app.services.jobs import (
    PROGRESS_INTERVAL_S,
    ProgressWriter,
    abandon,
    active_ingest_job,
    cancel_job,
    claim,
    complete,
    fail_jobs,
    get_job,
    job_tree,
    list_jobs,
)
from app.services.payloads import AnalysisRequest, IngestPayload
from app.services.recovery import (
    Recovery,
    _retry_interrupted,
    dead_local_runner,
    inline_runner_name,
    recover,
)
from pipeline.engines.base import EngineOutput, EngineRequest
from pipeline.engines.extractive import ExtractiveEngine
from pipeline.fields.schemas import load_schema
from tests import badfiles
from tests.app.helpers import age_heartbeat, ingest, queue_analyses, run_analysis_batch


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Settings with heartbeats and staleness short enough for a test."""
    return settings.model_copy(
        update={"heartbeat_interval_s": 0.05, "stale_after_s": 0.5, "resend_after_s": 0.2}
    )


def _submit(settings: Settings, path: Path, then: AnalysisRequest | None = None) -> int:
    submission = submit_file(
        sessions=open_database(settings),
        settings=settings,
        path=path,
        payload=IngestPayload(then=then),
    )
    assert submission.job_id is not None, submission
    return submission.job_id


def _job(settings: Settings, job_id: int) -> JobRecord:
    with open_database(settings)() as session:
        job = session.get_one(JobRecord, job_id)
        job.document  # noqa: B018 - loaded while the session is open
        return job


def test_a_job_is_claimed_once(settings: Settings, tmp_path: Path) -> None:
    job_id = _submit(settings, badfiles.make_born_digital_pdf(tmp_path))
    sessions = open_database(settings)
    with sessions() as first, sessions() as second:
        assert claim(first, [job_id], "worker-a") == [job_id]
        first.commit()
        assert claim(second, [job_id], "worker-b") == []
    claimed = _job(settings, job_id)
    assert claimed.worker == "worker-a"
    assert claimed.started_at is not None and claimed.started_at == claimed.heartbeat_at
    Dispatcher(settings, sessions).send([job_id])  # a second delivery does nothing
    sent = _job(settings, job_id)
    assert sent.status == JobStatus.RUNNING
    assert sent.task_id and sent.sent_at is not None  # the message carrying it, and when


def test_cancel_a_queued_ingest_fails_its_document(settings: Settings, tmp_path: Path) -> None:
    path = badfiles.make_born_digital_pdf(tmp_path)
    job_id = _submit(settings, path)
    other = _submit(settings, badfiles.make_born_digital_pdf(tmp_path / "b", ("Other", "1")))
    with open_database(settings)() as session:
        info = cancel_job(session=session, job_id=job_id)
        assert (info.status, info.message) == (JobStatus.CANCELLED, "cancelled")
        assert info.finished_at is not None
        with pytest.raises(StateError, match="is cancelled"):
            cancel_job(session=session, job_id=job_id)
        with pytest.raises(NotFoundError, match="^no job with id 999$"):
            cancel_job(session=session, job_id=999)
    Dispatcher(settings, open_database(settings)).send([job_id])  # its message still arrives
    job = _job(settings, job_id)
    assert job.status == JobStatus.CANCELLED and job.document.status == "failed"
    assert job.document.error == f"processing was cancelled (job {job_id})"
    assert job.document.page_count == 0
    untouched = _job(settings, other)  # another document's job and document
    assert (untouched.status, untouched.document.status) == ("queued", "pending")
    assert ingest(settings, path).document.status == "ready"  # submitting again retries


def test_cancelling_a_reading_again_leaves_the_ready_document_as_it_was(
    settings: Settings, tmp_path: Path
) -> None:
    """Reading a ready document again keeps its pages until new ones replace them, so a
    cancelled re-read fails nothing: the document stays ready with its pages."""
    document = ingest(settings, badfiles.make_multipage_pdf(tmp_path, 2)).document
    sessions = open_database(settings)
    with sessions() as session:
        again = reprocess_document(session=session, document_id=document.id)
        assert again.job_id is not None
        cancel_job(session=session, job_id=again.job_id)
    with sessions() as session:
        kept = session.get_one(DocumentRecord, document.id)
        assert (kept.status, kept.error, kept.page_count, len(kept.pages)) == ("ready", None, 2, 2)


def test_a_running_ingest_stops_at_the_next_page_when_cancelled(
    fast: Settings, tmp_path: Path
) -> None:
    job_id = _submit(fast, badfiles.make_multipage_pdf(tmp_path, 30))
    sessions = open_database(fast)
    seen: list[int] = []

    def cancel_on_page_three(_job: int, done: int, _total: int) -> None:
        seen.append(done)
        if done == 3:
            with sessions() as session:
                cancel_job(session=session, job_id=job_id)
            time.sleep(0.3)  # let a heartbeat notice

    Dispatcher(fast, sessions, on_page=cancel_on_page_three).send([job_id])
    job = _job(fast, job_id)
    assert job.status == JobStatus.CANCELLED and seen == [1, 2, 3]
    with sessions() as session:
        document = session.get_one(DocumentRecord, job.document_id)
        assert document.status == "failed" and document.pages == []


def test_heartbeat_refreshes_and_notices_a_cancelled_job(fast: Settings, tmp_path: Path) -> None:
    """It refreshes only its own jobs, and a job found cancelled stays lost to it."""
    job_id = _submit(fast, badfiles.make_born_digital_pdf(tmp_path))
    other = _submit(fast, badfiles.make_born_digital_pdf(tmp_path / "b", ("Other", "1")))
    mine = _submit(fast, badfiles.make_born_digital_pdf(tmp_path / "c", ("Mine", "2")))
    sessions = open_database(fast)
    with sessions() as session:
        claim(session, [job_id, other, mine], "worker")
        session.commit()
    for aged in (job_id, other, mine):
        age_heartbeat(fast, JobRecord.id, aged, 100)
    with Heartbeat(sessions, [job_id, mine], 60) as heartbeat:  # beats only when told
        heartbeat.beat()
        assert utcnow() - as_utc(_job(fast, job_id).heartbeat_at) < timedelta(seconds=5)
        assert utcnow() - as_utc(_job(fast, other).heartbeat_at) > timedelta(seconds=90)
        with sessions() as session:
            cancel_job(session=session, job_id=job_id)
        heartbeat.beat()
        assert heartbeat.lost(job_id) and not heartbeat.lost(mine)
        heartbeat.beat()
        assert heartbeat.lost(job_id)


def _claimed_then_silent(settings: Settings, job_id: int) -> None:
    """A worker claims the job and dies: its last heartbeat is 10 s old."""
    with open_database(settings)() as session:
        claim(session, [job_id], "worker-that-dies")
        session.commit()
    age_heartbeat(settings, JobRecord.id, job_id, 10)


def _die_running(settings: Settings, job_id: int) -> Recovery:
    """A worker claims the job and dies; later, the recovery pass runs."""
    _claimed_then_silent(settings, job_id)
    with open_database(settings)() as session:
        return recover(session=session, settings=settings, waiting=set())


def _ended_pid() -> str:
    """The pid of a process that has already exited."""
    code = "import os; print(os.getpid())"
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_job_of_an_in_process_runner_that_ended_is_retried_at_once(
    fast: Settings, tmp_path: Path
) -> None:
    """Its heartbeat may still be fresh: the process behind it is gone, so is the work."""
    job_id = _submit(fast, badfiles.make_born_digital_pdf(tmp_path))
    ended = _ended_pid()
    with open_database(fast)() as session:
        claim(session, [job_id], f"inline@{socket.gethostname()}:{ended}")
        session.commit()
        (retry,) = recover(session=session, settings=fast, waiting=set()).retried
    assert (_job(fast, job_id).status, _job(fast, retry).retry_of) == ("failed", job_id)


def test_recovery_retries_each_interrupted_job_alone_and_never_one_that_beat(
    fast: Settings, tmp_path: Path
) -> None:
    """Runners that died before their first heartbeat: each of their jobs is retried on its
    own. A job whose heartbeat arrives while recovery decides is left running."""
    jobs = [_submit(fast, badfiles.make_born_digital_pdf(tmp_path / name)) for name in "abc"]
    sessions = open_database(fast)
    with sessions() as session:
        claim(session, jobs, "worker-that-dies")
        session.execute(update(JobRecord).values(heartbeat_at=None))
        session.commit()
    age_heartbeat(fast, JobRecord.id, jobs[2], 10)
    with sessions() as session:
        stale = session.get_one(JobRecord, jobs[2])  # read before its runner beats
        age_heartbeat(fast, JobRecord.id, jobs[2], 0)
        late = Recovery()
        _retry_interrupted(session, fast, stale, late)
        assert late == Recovery()
    with sessions() as session:
        recovery = recover(session=session, settings=fast, waiting=set())
    assert len(recovery.retried) == 2 and recovery.gave_up == []
    assert [_job(fast, job_id).status for job_id in jobs] == ["failed", "failed", "running"]
    retries = [_job(fast, job_id) for job_id in recovery.retried]
    assert [job.retry_of for job in retries] == jobs[:2]


def test_a_job_that_ends_while_recovery_decides_keeps_its_end(
    fast: Settings, tmp_path: Path
) -> None:
    """Its runner finishes it between recovery's read and recovery's update, with the last
    heartbeat recovery saw: the job is no longer running, so it is neither failed nor retried."""
    job_id = _submit(fast, badfiles.make_born_digital_pdf(tmp_path))
    _claimed_then_silent(fast, job_id)
    sessions = open_database(fast)
    with sessions() as session:
        stale = session.get_one(JobRecord, job_id)  # read while it still runs
        with sessions() as runner:
            done = update(JobRecord).where(JobRecord.id == job_id).values(status=JobStatus.DONE)
            runner.execute(done)
            runner.commit()
        late = Recovery()
        _retry_interrupted(session, fast, stale, late)
        assert late == Recovery()
    assert (_job(fast, job_id).status, _job(fast, job_id).message) == ("done", None)


def test_an_interrupted_reading_again_leaves_the_ready_document_ready(
    fast: Settings, tmp_path: Path
) -> None:
    document = ingest(fast, badfiles.make_born_digital_pdf(tmp_path)).document
    with open_database(fast)() as session:
        again = reprocess_document(session=session, document_id=document.id).job_id
    assert again is not None
    (retry,) = _die_running(fast, again).retried
    assert (_job(fast, retry).retry_of, _job(fast, retry).document.status) == (again, "ready")


def test_interrupted_ingest_is_retried_then_given_up(fast: Settings, tmp_path: Path) -> None:
    """A worker killed mid-ingest: its job goes stale, is failed and retried as a new
    attempt; the last attempt's failure fails the document instead of looping."""
    settings = fast.model_copy(update={"max_attempts": 2})
    sessions = open_database(settings)
    first = _submit(settings, badfiles.make_born_digital_pdf(tmp_path))
    other = _job(settings, _submit(settings, badfiles.make_corrupt_pdf(tmp_path))).document_id
    with sessions() as session:  # another document, failed: it stays so
        session.execute(update(DocumentRecord).values(status="failed"))
        session.commit()
    (second,) = _die_running(settings, first).retried
    job = _job(settings, first)
    assert job.status == JobStatus.FAILED and job.message.startswith("interrupted")
    retry = _job(settings, second)
    assert (retry.status, retry.attempt, retry.retry_of) == ("queued", 2, first)
    assert retry.document.status == "pending"
    with sessions() as session:
        assert session.get_one(DocumentRecord, other).status == "failed"

    again = _die_running(settings, second)
    assert again.retried == [] and again.gave_up == [second]
    document = _job(settings, second).document
    assert document.status == "failed" and "giving up" in document.error
    with sessions() as session:
        tree = job_tree(session=session, job_ids=[first])
    assert [j.id for j in tree] == [first, second] and all(j.finished for j in tree)


def test_an_analysis_retry_keeps_its_engine_and_parent_and_leaves_documents_alone(
    fast: Settings, tmp_path: Path
) -> None:
    """A RUNNING analysis with no runner named and no heartbeat: retried as the same work
    (engine, parent); no document goes back to pending, another document least of all."""
    sessions = open_database(fast)
    then = AnalysisRequest.of(["What is the total?"], None)
    first = _submit(fast, badfiles.make_born_digital_pdf(tmp_path / "a"), then=then)
    other = _submit(fast, badfiles.make_born_digital_pdf(tmp_path / "b", ("Other", "Total 3")))
    with sessions() as session:
        document_id = session.get_one(JobRecord, first).document_id
        waiter = queue_analysis(session, document_id, then, parent_id=first)
        session.execute(
            update(JobRecord)
            .where(JobRecord.id == waiter)
            .values(status=JobStatus.RUNNING, worker=None, heartbeat_at=None, engine="extractive")
        )
        other_document = session.get_one(JobRecord, other).document_id
        session.execute(
            update(DocumentRecord)
            .where(DocumentRecord.id.in_([document_id, other_document]))
            .values(status="failed")
        )
        session.commit()
        (retry_id,) = recover(session=session, settings=fast, waiting={"x"}).retried
    interrupted, retry = _job(fast, waiter), _job(fast, retry_id)
    since = as_utc(interrupted.created_at).isoformat(timespec="seconds")
    assert interrupted.message == f"interrupted: no heartbeat from its runner since {since}"
    assert (retry.kind, retry.engine, retry.parent_id, retry.attempt) == (
        "analyze",
        "extractive",
        first,
        2,
    )
    with sessions() as session:
        statuses = session.scalars(select(DocumentRecord.status).order_by(DocumentRecord.id))
        assert list(statuses) == ["failed", "failed"]


def test_only_an_in_process_runner_of_this_machine_whose_process_ended_is_dead() -> None:
    ended = _ended_pid()
    here = socket.gethostname()
    assert dead_local_runner(f"inline@{here}:{ended}")
    assert not dead_local_runner(inline_runner_name())  # alive: this process
    hangs_up = (  # any signal but 0 ends it, even where this test's SIGHUP is ignored
        "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_DFL); print(flush=True);"
        "time.sleep(60)"
    )
    with subprocess.Popen([sys.executable, "-c", hangs_up], stdout=subprocess.PIPE) as alive:
        assert alive.stdout is not None and alive.stdout.readline() == b"\n"
        assert not dead_local_runner(f"inline@{here}:{alive.pid}")
        time.sleep(0.2)
        assert alive.poll() is None  # only asked whether it lives, never sent a signal
        alive.kill()
    assert not dead_local_runner(f"inline@{here}x:{ended}")  # another machine's
    assert not dead_local_runner(f"inline@{here}:{ended}x")  # not a pid
    assert not dead_local_runner(f"worker@{here}:{ended}")  # a Celery worker: its heartbeat
    assert not dead_local_runner(None)


def test_stopping_a_runner_closes_its_own_work_only(fast: Settings, tmp_path: Path) -> None:
    """Its running job fails, the job it was handed but had not started is cancelled; the
    work of other runners, and another runner's queued job, are left as they are."""
    ids = [_submit(fast, badfiles.make_born_digital_pdf(tmp_path / n, (n, "1"))) for n in "abcde"]
    sessions = open_database(fast)
    with sessions() as session:
        claim(session, [ids[0], ids[4]], "me")
        claim(session, [ids[1]], "someone")
        session.get_one(JobRecord, ids[2]).task_id = "me"  # handed to me, not started
        session.get_one(JobRecord, ids[3]).task_id = "someone"
        session.get_one(JobRecord, ids[4]).status = JobStatus.DONE  # finished before
        session.commit()
        interrupted = abandon(session=session, runner="me", reason="stopped")
        sha = session.get_one(JobRecord, ids[0]).document.sha256
    assert interrupted == [(ids[0], sha)]
    jobs = [_job(fast, job_id) for job_id in ids]
    assert [(j.status, j.message) for j in jobs] == [
        ("failed", "stopped"),
        ("running", None),
        ("cancelled", "stopped"),
        ("queued", None),
        ("done", None),
    ]
    assert [j.document.status for j in jobs[:4]] == ["failed", "pending", "failed", "pending"]
    with sessions() as session:
        assert active_ingest_job(session, jobs[0].document_id) is None
        assert active_ingest_job(session, jobs[1].document_id).id == ids[1]


def test_a_fresh_heartbeat_is_left_alone(fast: Settings, tmp_path: Path) -> None:
    job_id = _submit(fast, badfiles.make_born_digital_pdf(tmp_path))
    with open_database(fast)() as session:
        claim(session, [job_id], "live-worker")
        session.commit()
        assert recover(session=session, settings=fast, waiting=set()).retried == []
    assert _job(fast, job_id).status == JobStatus.RUNNING


def test_lost_messages_are_found(fast: Settings, tmp_path: Path) -> None:
    sessions = open_database(fast)
    job_id = _submit(fast, badfiles.make_born_digital_pdf(tmp_path))

    def lost(waiting: set[str] | None) -> list[int]:
        with sessions() as session:
            return recover(session=session, settings=fast, waiting=waiting).resend

    def sent(task_id: str, seconds_ago: float) -> None:
        with sessions() as session:
            session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id)
                .values(task_id=task_id, sent_at=utcnow() - timedelta(seconds=seconds_ago))
            )
            session.commit()

    sent("task-1", 0)
    assert lost(set()) == []  # just sent: the message may still be on its way
    sent("task-1", 5)
    assert lost({"task-1"}) == []  # still waiting in the broker
    assert lost(set()) == [job_id]  # the broker lost it (a restart without persistence)
    sent(inline_runner_name(), 5)
    assert lost(set()) == []  # this process will run it
    exited = subprocess.Popen(["true"])
    exited.wait()
    sent(f"inline@{socket.gethostname()}:{exited.pid}", 0)
    assert lost(None) == [job_id]  # its in-process runner died: run it again


class SpyEngine(ExtractiveEngine):
    """The extractive engine, recording how many documents each batch carried."""

    def __init__(self, fail_on: str | None = None) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.fail_on = fail_on

    def analyze(self, requests: Sequence[EngineRequest]) -> list[EngineOutput]:
        self.batches.append(len(requests))
        for request in requests:
            words = " ".join(w.text for page in request.pages for w in page.words)
            if self.fail_on and self.fail_on in words:
                raise RuntimeError("this page breaks the engine")
        return super().analyze(requests)


def _ready_documents(settings: Settings, tmp_path: Path, count: int) -> list[int]:
    ids = []
    for number in range(count):
        folder = tmp_path / f"doc{number}"
        lines = (f"Document {number}", "Invoice total due 12.50 EUR")
        ids.append(ingest(settings, badfiles.make_born_digital_pdf(folder, lines)).document_id)
    return ids


def test_a_queued_analysis_is_no_ingest_in_progress(settings: Settings, tmp_path: Path) -> None:
    [document] = _ready_documents(settings, tmp_path, 1)
    queue_analyses(settings, [document])
    with open_database(settings)() as session:
        assert active_ingest_job(session, document) is None


def test_an_analysis_claims_more_queued_pages_for_one_engine_batch(
    settings: Settings, tmp_path: Path
) -> None:
    budget = settings.model_copy(update={"analyze_batch_pages": 3})
    documents = _ready_documents(budget, tmp_path, 5)
    jobs = queue_analyses(budget, documents[:4])
    other_engine = queue_analyses(budget, documents[4:], engine="tiny-random")
    spy = SpyEngine()
    run_analysis_batch(budget, jobs[0], lambda _name: spy)
    assert spy.batches == [3]  # three one-page documents, one engine call
    statuses = [_job(budget, job_id).status for job_id in jobs + other_engine]
    assert statuses == ["done", "done", "done", "queued", "queued"]


def test_a_document_that_breaks_the_engine_fails_alone(settings: Settings, tmp_path: Path) -> None:
    documents = _ready_documents(settings, tmp_path, 3)
    jobs = queue_analyses(settings, documents)
    spy = SpyEngine(fail_on="Document 1")
    run_analysis_batch(settings, jobs[0], lambda _name: spy)
    assert spy.batches == [3, 1, 1, 1]
    first, broken, third = (_job(settings, job_id) for job_id in jobs)
    assert (first.status, third.status) == ("done", "done")
    assert broken.status == "failed" and "this page breaks the engine" in broken.message


def test_a_cancelled_analysis_stores_nothing(settings: Settings, tmp_path: Path) -> None:
    (document,) = _ready_documents(settings, tmp_path, 1)
    (job_id,) = queue_analyses(settings, [document])
    sessions = open_database(settings)

    class CancelledMeanwhile(SpyEngine):
        def analyze(self, requests: Sequence[EngineRequest]) -> list[EngineOutput]:
            with sessions() as session:
                cancel_job(session=session, job_id=job_id)
            return super().analyze(requests)

    run_analysis_batch(settings, job_id, lambda _name: CancelledMeanwhile())
    assert _job(settings, job_id).status == JobStatus.CANCELLED
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(AnswerRecord)) == 0


def test_ctrl_c_closes_what_it_started_and_cancels_the_rest(
    settings: Settings, tmp_path: Path
) -> None:
    first = _submit(settings, badfiles.make_multipage_pdf(tmp_path, 5, name="a.pdf"))
    second = _submit(settings, badfiles.make_multipage_pdf(tmp_path, 5, name="b.pdf"))

    def interrupt(_job: int, done: int, _total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Dispatcher(settings, open_database(settings), on_page=interrupt).send([first, second])
    started, waiting = _job(settings, first), _job(settings, second)
    assert (started.status, waiting.status) == ("failed", "cancelled")
    for job in (started, waiting):
        assert job.document.status == "failed" and "interrupted" in job.document.error
    assert ingest(settings, tmp_path / "a.pdf").document.status == "ready"


def test_follow_ups_run_after_ingest_and_belong_to_its_tree(
    settings: Settings, tmp_path: Path
) -> None:
    then = AnalysisRequest.of(["What is the total?"])
    job_id = _submit(settings, badfiles.make_multipage_pdf(tmp_path, 2), then)
    Dispatcher(settings, open_database(settings)).send([job_id])
    with open_database(settings)() as session:
        tree = job_tree(session=session, job_ids=[job_id])
    assert [(j.kind, j.status) for j in tree] == [("ingest", "done"), ("analyze", "done")]
    assert tree[1].parent_id == job_id and tree[1].questions == ["What is the total?"]
    assert JobKind(tree[1].kind) is JobKind.ANALYZE


def test_an_analysis_asked_while_the_file_is_being_read_waits_for_it(
    fast: Settings, tmp_path: Path
) -> None:
    path = badfiles.make_born_digital_pdf(tmp_path)
    sessions = open_database(fast)
    first = _submit(fast, path)
    busy = submit_file(
        sessions=sessions,
        settings=fast,
        path=path,
        payload=IngestPayload(then=AnalysisRequest.of(["What is the total amount due?"])),
    )
    assert busy.outcome == "busy" and busy.job_id == first
    time.sleep(0.3)  # older than resend_after_s: never sent, yet not lost: it waits
    with sessions() as session:
        (_, waiting) = job_tree(session=session, job_ids=[first])
        assert recover(session=session, settings=fast, waiting=set()).resend == [first]
    Dispatcher(fast, sessions).send([first])
    with sessions() as session:
        tree = job_tree(session=session, job_ids=[first])
    assert [(job.kind, job.status) for job in tree] == [("ingest", "done"), ("analyze", "done")]


def test_a_queued_analysis_whose_reading_ended_is_lost_when_never_sent(
    fast: Settings, tmp_path: Path
) -> None:
    """The runner finished the file's reading and died before sending the analysis waiting
    on it: the analysis waits for nothing any more, so recovery sends it; failing the jobs
    that waited on the document leaves the finished reading alone."""
    path = badfiles.make_born_digital_pdf(tmp_path)
    sessions = open_database(fast)
    first = _submit(fast, path)
    then = IngestPayload(then=AnalysisRequest.of(["What is the total amount due?"]))
    submit_file(sessions=sessions, settings=fast, path=path, payload=then)
    with sessions() as session:
        session.execute(update(JobRecord).where(JobRecord.id == first).values(status="done"))
        (_, waiting) = job_tree(session=session, job_ids=[first])
        session.commit()
    time.sleep(0.3)  # older than resend_after_s
    with sessions() as session:
        assert recover(session=session, settings=fast, waiting=set()).resend == [waiting.id]
        fail_jobs(session, [first, waiting.id], "the document failed")
        session.commit()
    assert [_job(fast, job).status for job in (first, waiting.id)] == ["done", "failed"]


def test_analyses_waiting_on_a_failed_document_fail_with_it(
    settings: Settings, tmp_path: Path
) -> None:
    path = badfiles.make_encrypted_pdf(tmp_path)
    first = _submit(settings, path)
    then = IngestPayload(then=AnalysisRequest.of(["Total?"]))
    submit_file(sessions=open_database(settings), settings=settings, path=path, payload=then)
    [ready] = _ready_documents(settings, tmp_path, 1)
    [elsewhere] = queue_analyses(settings, [ready])  # another document's, left queued
    Dispatcher(settings, open_database(settings)).send([first])
    with open_database(settings)() as session:
        (ingest_job, waiting) = job_tree(session=session, job_ids=[first])
    assert ingest_job.status == "failed" and waiting.status == "failed"
    assert waiting.message.startswith("the document failed: encrypted PDF")
    assert waiting.finished_at is not None
    assert _job(settings, elsewhere).status == "queued"


def test_jobs_are_listed_by_status_document_and_id(settings: Settings, tmp_path: Path) -> None:
    done = ingest(settings, badfiles.make_born_digital_pdf(tmp_path / "a")).document_id
    queued = _submit(settings, badfiles.make_multipage_pdf(tmp_path, 2))
    with open_database(settings)() as session:
        every = list_jobs(session=session)
        assert [(j.kind, j.status) for j in every] == [("ingest", "done"), ("ingest", "queued")]
        assert [j.id for j in list_jobs(session=session, status=JobStatus.QUEUED)] == [queued]
        assert [j.document_id for j in list_jobs(session=session, document_id=done)] == [done]
        assert list_jobs(session=session, job_ids=[queued]) == [every[1]]
        assert list_jobs(session=session, status=JobStatus.DONE, job_ids=[queued]) == []
        assert get_job(session=session, job_id=queued) == every[1]
        with pytest.raises(NotFoundError, match="^no job with id 999$"):
            get_job(session=session, job_id=999)


def test_a_retry_keeps_the_work_and_the_jobs_waiting_on_it(fast: Settings, tmp_path: Path) -> None:
    """The retry carries the interrupted job's payload and place in the tree; a job that
    waited for the interrupted attempt waits for the retry, and fails with the document."""
    settings = fast.model_copy(update={"max_attempts": 2})
    sessions = open_database(settings)
    then = AnalysisRequest.of(["What is the total?"], None)
    first = _submit(settings, badfiles.make_born_digital_pdf(tmp_path), then=then)
    with sessions() as session:
        document_id = session.get_one(JobRecord, first).document_id
        waiter = queue_analysis(session, document_id, then, parent_id=first)
        session.commit()
    (second,) = _die_running(settings, first).retried
    failed, retry = _job(settings, first), _job(settings, second)
    since = as_utc(failed.heartbeat_at).isoformat(timespec="seconds")
    reason = f"interrupted: no heartbeat from worker-that-dies since {since}"
    assert (failed.status, failed.message) == ("failed", reason) and failed.finished_at
    assert (retry.kind, retry.payload, retry.parent_id) == ("ingest", failed.payload, None)
    assert IngestPayload.model_validate(retry.payload).then == then
    assert (_job(settings, waiter).status, _job(settings, waiter).parent_id) == ("queued", second)

    assert _die_running(settings, second).gave_up == [second]
    last = _job(settings, second)
    since = as_utc(last.heartbeat_at).isoformat(timespec="seconds")
    given_up = (
        f"interrupted: no heartbeat from worker-that-dies since {since} (attempt 2 of 2; giving up)"
    )
    assert last.document.error == given_up
    assert (_job(settings, waiter).status, _job(settings, waiter).message) == (
        "failed",
        f"the document failed: {given_up}",
    )


def test_a_job_ends_once_with_its_time_message_and_pages(fast: Settings, tmp_path: Path) -> None:
    """Only a running job completes; the pages it did are its progress, done and total."""
    jobs = [_submit(fast, badfiles.make_born_digital_pdf(tmp_path / name)) for name in "ab"]
    with open_database(fast)() as session:
        claim(session, jobs, "worker")
        assert complete(session, jobs[0], JobStatus.DONE, "3 pages", 3)
        assert complete(session, jobs[1], JobStatus.FAILED, "unreadable")
        assert not complete(session, jobs[0], JobStatus.FAILED, "late")  # ended already
        session.commit()
    done, failed = (_job(fast, job_id) for job_id in jobs)
    assert (done.status, done.message, done.pages_done, done.pages_total) == (
        "done",
        "3 pages",
        3,
        3,
    )
    assert (failed.status, failed.pages_done, failed.pages_total) == ("failed", 0, 0)
    assert done.finished_at is not None and failed.finished_at is not None


def test_progress_is_written_at_most_every_interval(
    fast: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fast reader's pages do not each cost a database write; a slow one's are followed."""
    clock = [100.0]
    monkeypatch.setattr(jobs_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    job_id = _submit(fast, badfiles.make_born_digital_pdf(tmp_path))
    progress = ProgressWriter(open_database(fast), job_id)
    seen = []
    for done, seconds in ((1, 0.1), (2, PROGRESS_INTERVAL_S), (3, 0.1), (4, PROGRESS_INTERVAL_S)):
        clock[0] += seconds
        progress(done, 9)
        job = _job(fast, job_id)
        seen.append((job.pages_done, job.pages_total))
    assert seen == [(0, 0), (2, 9), (2, 9), (4, 9)]


def test_a_job_s_payload_is_stored_as_plain_json_without_empty_options(
    fast: Settings, tmp_path: Path
) -> None:
    """Workers of another version read it: the schema under its name "schema", no nulls."""
    then = AnalysisRequest.of(["Total?"], load_schema("receipt"), page=0)
    job_id = _submit(fast, badfiles.make_born_digital_pdf(tmp_path), then)
    payload = _job(fast, job_id).payload
    assert payload["again"] is False and "dpi" not in payload  # the worker's DPI: no null
    assert list(payload["then"]) == ["questions", "schema"]
    assert payload["then"]["questions"] == [{"text": "Total?", "page": 0}]
    assert payload["then"]["schema"]["name"] == "receipt"
