"""Queue benchmark: pages/s through Celery workers against the direct in-process call.

Run from the repository root, with Redis and PostgreSQL up (as for the tests):

    .venv/bin/python bench/queue.py [--documents 16] [--pages 2]

Each run gets a fresh PostgreSQL database and Redis database; the same documents (born-
digital PDFs) are ingested and analysed (a question and the receipt schema, with the
`tiny-random` engine: the real Florence-VL code at tiny size) three ways:

* direct: the dispatcher running every job in this process (no broker);
* through the queue with 1 and with 2 `docfuse worker` processes.

Engines are built before the clock starts (a worker builds its model once per process, on
a warm-up document), so the figures compare the work and the queue, not model loading.
The queue's added latency is timed on one-page documents with no analysis, submitted one at
a time (so nothing overlaps): submit to done through a worker, against the same in-process.
"""

# ruff: noqa: E402 (the import path is fixed first, see below)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder would come first on the import path, where bench/queue.py
# would shadow the standard library's `queue`: the repository root goes there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import os
import platform
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pymupdf
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import Settings
from app.db import open_database
from app.dispatch import Dispatcher
from app.services.ingest import submit_file
from app.services.jobs import job_tree
from app.services.payloads import AnalysisRequest, IngestPayload
from app.services.workers import list_workers
from bench.synthetic import write_pdfs
from pipeline.fields.schemas import load_schema

REPO = Path(__file__).resolve().parents[1]
POSTGRES = os.environ.get(
    "DOCFUSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test"
)
REDIS = "redis://127.0.0.1:6379/12"
POLL_S = 0.25
TIMINGS = {"heartbeat_interval_s": 1.0, "stale_after_s": 10.0}


def write_documents(folder: Path, count: int, pages: int, tag: str) -> list[Path]:
    """Receipt-like PDFs, each page naming its document so that every file is new."""

    def fill(page: pymupdf.Page, number: int, page_number: int) -> None:
        page.insert_text((72, 80), f"RECEIPT {tag}-{number} page {page_number + 1}")
        page.insert_text((72, 110), "SUNRISE TRADING SDN BHD, 12 JALAN TEKNO, KUALA LUMPUR")
        page.insert_text((72, 140), f"DATE 0{page_number + 1}/03/2026   TOTAL RM {number}.50")

    return write_pdfs(folder, count, pages, tag, fill)


@contextmanager
def fresh_database() -> Iterator[str]:
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"docfuse_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def settings_for(database_url: str, data_dir: Path, broker_url: str = "") -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        broker_url=broker_url,
        engine="tiny-random",
        **TIMINGS,
    )


def submit(settings: Settings, paths: list[Path], then: AnalysisRequest | None) -> list[int]:
    sessions = open_database(settings)
    roots = [
        submit_file(
            sessions=sessions, settings=settings, path=path, payload=IngestPayload(then=then)
        ).job_id
        for path in paths
    ]
    Dispatcher(settings, sessions).send(roots)
    return [root for root in roots if root is not None]


def wait_finished(settings: Settings, roots: list[int]) -> None:
    """Poll rarely: on two cores, a busy observer would slow the workers it times."""
    sessions = open_database(settings)
    while True:
        with sessions() as session:
            if all(job.finished for job in job_tree(session=session, job_ids=roots)):
                return
        time.sleep(POLL_S)


def run_direct(paths: list[Path], then: AnalysisRequest | None) -> float:
    with fresh_database() as url, tempfile.TemporaryDirectory() as scratch:
        settings = settings_for(url, Path(scratch))
        submit(settings, write_documents(Path(scratch), 1, 1, "warm-up"), then)  # the engine
        start = time.perf_counter()
        submit(settings, paths, then)
        return time.perf_counter() - start


def run_queue(paths: list[Path], then: AnalysisRequest | None, workers: int) -> float:
    client = redis.Redis.from_url(REDIS)
    client.flushdb()
    with fresh_database() as url, tempfile.TemporaryDirectory() as scratch:
        settings = settings_for(url, Path(scratch), REDIS)
        open_database(settings)  # migrate once, before the workers start
        # Workers on one machine share its cores: each gets its share of compute threads.
        share = settings.model_copy(
            update={"worker_threads": max(1, (os.cpu_count() or 1) // workers)}
        )
        processes = [start_worker(share, Path(scratch) / f"w{n}.log") for n in range(workers)]
        try:
            wait_registered(settings, processes)
            warmup = write_documents(Path(scratch), workers, 1, "warm-up")
            wait_finished(settings, submit(settings, warmup, then))  # engines built
            start = time.perf_counter()
            wait_finished(settings, submit(settings, paths, then))
            return time.perf_counter() - start
        finally:
            stop_workers(processes)
            client.flushdb()


def median_latency(paths: list[Path], workers: int) -> float:
    """Median seconds from submitting one document to its job being done, one at a time."""
    with fresh_database() as url, tempfile.TemporaryDirectory() as scratch:
        settings = settings_for(url, Path(scratch), REDIS if workers else "")
        sessions = open_database(settings)
        processes = [start_worker(settings, Path(scratch) / "w.log") for _ in range(workers)]
        try:
            wait_registered(settings, processes)
            latencies = []
            for path in paths:
                start = time.perf_counter()
                (root,) = submit(settings, [path], None)
                while True:
                    with sessions() as session:
                        if job_tree(session=session, job_ids=[root])[0].finished:
                            break
                    time.sleep(0.002)
                latencies.append(time.perf_counter() - start)
            return statistics.median(latencies)
        finally:
            stop_workers(processes)


def start_worker(settings: Settings, log: Path) -> subprocess.Popen:
    values = settings.model_dump(mode="json")
    env = {**os.environ, **{f"DOCFUSE_{k.upper()}": str(v) for k, v in values.items()}}
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--queues", "cpu,gpu"],
        cwd=REPO,
        env=env | {"PYTHONPATH": str(REPO)},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def wait_registered(settings: Settings, processes: list[subprocess.Popen]) -> None:
    names = {f"docfuse{p.pid}@{socket.gethostname()}" for p in processes}
    sessions = open_database(settings)
    while True:
        with sessions() as session:
            if names <= {w.name for w in list_workers(session=session, settings=settings)}:
                return
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=16)
    parser.add_argument("--pages", type=int, default=2)
    parser.add_argument("--small", type=int, default=30, help="Tasks timed one at a time.")
    parser.add_argument("--repeat", type=int, default=2, help="Runs per setup; the best.")
    args = parser.parse_args()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average {os.getloadavg()[0]:.2f}"
    )
    then = AnalysisRequest.of(["What is the total?"], load_schema("receipt"))
    with tempfile.TemporaryDirectory() as scratch:
        # Every run has a database of its own, so the same files are new to each.
        paths = write_documents(Path(scratch) / "docs", args.documents, args.pages, "doc")
        pages = args.documents * args.pages

        def best(workers: int) -> float:
            runs = [
                run_queue(paths, then, workers) if workers else run_direct(paths, then)
                for _ in range(args.repeat)
            ]
            return min(runs)

        direct = best(0)
        for label, workers in (("direct, in-process", 0), ("queue, 1 worker", 1),
                               ("queue, 2 workers", 2)):  # fmt: skip
            seconds = direct if workers == 0 else best(workers)
            print(
                f"{label}: {args.documents} documents, {pages} pages, ingest + question + "
                f"receipt schema (tiny-random engine) in {seconds:.2f} s: "
                f"{pages / seconds:.1f} pages/s ({direct / seconds:.2f}x the direct call; "
                f"best of {args.repeat})"
            )
        small = write_documents(Path(scratch) / "small", args.small, 1, "small")
        alone, queued = median_latency(small, 0), median_latency(small, 1)
        print(
            f"latency of one small task (one-page ingest, median of {args.small}): "
            f"{1000 * alone:.1f} ms in-process, {1000 * queued:.1f} ms through a worker: "
            f"the queue adds {1000 * (queued - alone):.1f} ms a task"
        )


if __name__ == "__main__":
    main()
