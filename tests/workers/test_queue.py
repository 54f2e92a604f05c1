"""The queue for real: `docfuse worker` processes on Redis and PostgreSQL. Nothing is lost
or done twice when workers are killed, Redis forgets everything, or bad files come in."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pymupdf
import pytest
from sqlalchemy import func, select

from app.db.models import AnswerRecord, DocumentRecord, FieldRecord, JobRecord, PageRecord
from app.services.jobs import cancel_job
from app.services.payloads import AnalysisRequest
from app.services.workers import list_workers
from pipeline.engines.extractive import ExtractiveEngine
from pipeline.fields.schemas import load_schema
from tests import badfiles
from tests.conftest import ICDAR_DIR, REPO_ROOT, SROIE_DIR
from tests.processes import Cluster, RedisServer, wait_until

pytestmark = pytest.mark.postgres

QUESTIONS = ["What is the total?", "What is the date?"]
SCHEMA = load_schema("receipt")
THEN = AnalysisRequest.of(QUESTIONS, SCHEMA)
SMALL_SCANS = ["000.jpg", "020.jpg", "320.jpg", "040.jpg", "280.jpg"]


def _documents(folder: Path, generated: int) -> list[Path]:
    """The ten ICDAR PDFs, five small SROIE scans, and `generated` born-digital PDFs."""
    paths = sorted(ICDAR_DIR.glob("*.pdf")) + [SROIE_DIR / "images" / n for n in SMALL_SCANS]
    for number in range(generated):
        lines = (f"Generated document {number}", "Total amount due 1,234.56 EUR")
        paths.append(badfiles.make_born_digital_pdf(folder / f"gen{number}", lines))
    return paths


def _expected_pages(paths: list[Path]) -> int:
    return sum(pymupdf.open(p).page_count if p.suffix == ".pdf" else 1 for p in paths)


def _assert_stored_exactly_once(cluster: Cluster, paths: list[Path]) -> None:
    with cluster.sessions() as session:
        documents = session.scalars(select(DocumentRecord)).all()
        assert len(documents) == len(paths)
        assert {d.status for d in documents} == {"ready"}, [(d.id, d.error) for d in documents]
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        assert count(PageRecord) == _expected_pages(paths)
        assert count(AnswerRecord) == len(paths) * len(QUESTIONS)
        assert count(FieldRecord) == len(paths) * len(SCHEMA.fields)
        done = session.scalars(select(JobRecord).where(JobRecord.status == "done")).all()
        assert Counter(job.kind for job in done) == {"ingest": len(paths), "analyze": len(paths)}


def test_twenty_documents_through_two_workers(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_worker()
    cluster.start_worker()
    paths = _documents(tmp_path, generated=5)
    assert len(paths) == 20
    roots = cluster.submit(paths, THEN)
    jobs = cluster.wait_finished(roots)
    assert {job.status for job in jobs} == {"done"}
    _assert_stored_exactly_once(cluster, paths)
    workers = {job.worker.rsplit(":", 1)[0] for job in jobs}
    assert workers == {worker.name for worker in cluster.workers}  # both did work
    with cluster.sessions() as session:
        registry = list_workers(session=session, settings=cluster.settings)
    revision = ExtractiveEngine().model_revision
    assert {(w.engine, w.model, w.alive) for w in registry} == {("extractive", revision, True)}


def test_a_worker_killed_mid_task_loses_nothing(cluster: Cluster, tmp_path: Path) -> None:
    victim = cluster.start_worker()
    survivor = cluster.start_worker()
    paths = _documents(tmp_path, generated=0)[10:] + sorted(ICDAR_DIR.glob("*.pdf"))[:3]
    roots = cluster.submit(paths, THEN)

    def victim_is_busy() -> bool:
        return any(
            job.status == "running" and job.worker.startswith(victim.name)
            for job in cluster.jobs(roots)
        )

    wait_until(victim_is_busy, 60, "the first worker to hold a task")
    victim.kill()
    jobs = cluster.wait_finished(roots)
    interrupted = [job for job in jobs if job.status == "failed"]
    assert interrupted and all(job.message.startswith("interrupted") for job in interrupted)
    retries = [job for job in jobs if job.retry_of is not None]
    assert {job.retry_of for job in retries} == {job.id for job in interrupted}
    assert all(job.status == "done" and job.worker.startswith(survivor.name) for job in retries)
    _assert_stored_exactly_once(cluster, paths)


def test_redis_restarted_mid_run_loses_nothing(
    cluster_on_private_redis: Cluster, private_redis: RedisServer, tmp_path: Path
) -> None:
    """Redis keeps nothing on disk: a restart drops every queued message. The workers
    reconnect, and their recovery pass sends again what the database still has queued."""
    cluster = cluster_on_private_redis
    cluster.start_worker()
    paths = _documents(tmp_path, generated=6)[4:]
    roots = cluster.submit(paths, THEN)
    wait_until(
        lambda: sum(job.status == "done" for job in cluster.jobs(roots)) >= 2,
        60,
        "a first few documents",
    )
    private_redis.kill()
    private_redis.start()
    lost = [job for job in cluster.jobs(roots) if job.status == "queued"]
    assert lost  # their messages died with Redis: only the database remembers them
    jobs = cluster.wait_finished(roots)
    assert all(job.status in ("done", "failed") for job in jobs)
    assert all(job.message.startswith("interrupted") for job in jobs if job.status == "failed")
    _assert_stored_exactly_once(cluster, paths)


def test_bad_files_fail_alone_and_workers_stay_up(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_worker()
    bad = [
        badfiles.make_corrupt_pdf(tmp_path / "a"),
        badfiles.make_encrypted_pdf(tmp_path / "b"),
        badfiles.make_decompression_bomb(tmp_path / "c"),
    ]
    good = sorted(ICDAR_DIR.glob("*.pdf"))[:3]
    roots = cluster.submit(bad + good, THEN)
    jobs = cluster.wait_finished(roots)
    with cluster.sessions() as session:
        by_name = {d.filename: d for d in session.scalars(select(DocumentRecord))}
    for path in bad:
        assert by_name[path.name].status == "failed" and by_name[path.name].error
    assert all(by_name[path.name].status == "ready" for path in good)
    analyses = [job for job in jobs if job.kind == "analyze"]
    assert len(analyses) == len(good) and {job.status for job in analyses} == {"done"}
    assert all(worker.alive() for worker in cluster.workers)


def test_cancelling_a_running_job_stops_it_and_keeps_nothing(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.start_worker()
    frames = tuple(f"PAGE {number} OF A LONG SCAN" for number in range(40))
    long_scan = badfiles.make_multipage_tiff(tmp_path, frames)  # OCR'd frame by frame
    (job_id,) = cluster.submit([long_scan], THEN)

    def first_page_done() -> bool:
        jobs = cluster.jobs([job_id])
        return any(job.pages_done >= 1 and job.status == "running" for job in jobs)

    wait_until(first_page_done, 60, "the scan to be half read")
    with cluster.sessions() as session:
        cancel_job(session=session, job_id=job_id)
    (job,) = cluster.wait_finished([job_id])
    assert job.status == "cancelled"
    with cluster.sessions() as session:
        document = session.get_one(DocumentRecord, job.document_id)
        assert document.status == "failed" and "cancelled" in document.error
        assert document.pages == []
    pages = cluster.settings.data_dir / "pages"
    # The worker notices at its next page, stops, and removes the images it had written.
    wait_until(lambda: not list(pages.rglob("*.png")), 20, "the cancelled pages to go")
    (stopped,) = cluster.jobs([job_id])
    assert stopped.pages_done < len(frames)  # it stopped, it did not read every page
    after = cluster.submit(sorted(ICDAR_DIR.glob("*.pdf"))[:1])
    assert {job.status for job in cluster.wait_finished(after)} == {"done"}


def _docfuse(cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env=cluster.env | {"COLUMNS": "200"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_ingest_through_the_queue_from_the_command_line(cluster: Cluster) -> None:
    pdf = str(sorted(ICDAR_DIR.glob("*.pdf"))[0])
    queued = _docfuse(cluster, "ingest", pdf)
    assert queued.returncode == 0, queued.stderr
    assert "queued" in queued.stdout and "1 queued or in progress" in queued.stdout
    nobody = _docfuse(cluster, "ingest", pdf, "--wait")
    assert nobody.returncode == 4  # the work stays queued: no live worker reads `cpu`
    assert "no live worker reads queue cpu" in " ".join(nobody.stderr.split())
    cluster.start_worker()
    waited = _docfuse(cluster, "ingest", pdf, "--wait", "--ask", "What is the total?")
    assert waited.returncode == 0, waited.stderr
    assert "engine of the live workers: extractive" in " ".join(waited.stderr.split())
    assert "known" in waited.stdout and "What is the total? ->" in waited.stdout
    asked = _docfuse(cluster, "ask", "1", "What is the weather today?")
    assert asked.returncode == 3 and "no answer found" in asked.stdout
