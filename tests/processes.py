"""Real processes for tests: `docfuse worker` subprocesses, a private `redis-server`, and
the cluster they make with the test's own view of the database, broker and data dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from app.config import Settings
from app.db import open_database
from app.dispatch import Dispatcher
from app.read_models import JobInfo
from app.services.ingest import submit_file
from app.services.jobs import job_tree
from app.services.payloads import AnalysisRequest, IngestPayload
from app.services.workers import list_workers
from tests.conftest import REPO_ROOT

SHARED_REDIS = "redis://127.0.0.1:6379"
TEST_REDIS_DB = 13
FAST = {
    "heartbeat_interval_s": "0.5",
    "stale_after_s": "3",
    "reconcile_interval_s": "1",
    "resend_after_s": "2",
    "engine": "extractive",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log: Path

    @property
    def name(self) -> str:
        return f"docfuse{self.process.pid}@{socket.gethostname()}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """kill -9 the worker and its pool processes, as a lost machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    """Workers and the test's own view of the same database, broker and data dir."""

    settings: Settings
    env: dict[str, str]
    tmp: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    def start_worker(self, queues: str = "cpu,gpu") -> WorkerProcess:
        log = self.tmp / f"worker-{len(self.workers)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--queues", queues],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        worker = WorkerProcess(process, log)
        self.workers.append(worker)
        wait_until(lambda: self._registered(worker), 90, f"worker {worker.name} ({log})")
        return worker

    def _registered(self, worker: WorkerProcess) -> bool:
        if not worker.alive():
            raise AssertionError(f"worker exited: {worker.log.read_text()[-3000:]}")
        with self.sessions() as session:
            names = {w.name for w in list_workers(session=session, settings=self.settings)}
        return worker.name in names

    def sessions(self):  # type: ignore[no-untyped-def]
        return open_database(self.settings)()

    def submit(
        self, paths: Sequence[Path], then: AnalysisRequest | None = None
    ) -> list[int | None]:
        """Submit files as `docfuse ingest` does with a broker; the root job of each."""
        sessions = open_database(self.settings)
        dispatcher = Dispatcher(self.settings, sessions)
        roots = []
        for path in paths:
            submission = submit_file(
                sessions=sessions,
                settings=self.settings,
                path=path,
                payload=IngestPayload(then=then),
            )
            dispatcher.send([submission.job_id])
            roots.append(submission.job_id)
        return roots

    def jobs(self, roots: Sequence[int | None]) -> list[JobInfo]:
        with self.sessions() as session:
            return job_tree(session=session, job_ids=[r for r in roots if r is not None])

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    def wait_finished(self, roots: Sequence[int | None], timeout: float = 180) -> list[JobInfo]:
        wait_until(
            lambda: all(job.finished for job in self.jobs(roots)),
            timeout,
            f"jobs to finish: {[(j.id, j.status) for j in self.jobs(roots)]}\n"
            + "\n".join(w.log.read_text()[-2000:] for w in self.workers),
        )
        return self.jobs(roots)


def make_cluster(tmp: Path, database_url: str, broker_url: str) -> Cluster:
    values = {"data_dir": str(tmp / "data"), "database_url": database_url, **FAST}
    values["broker_url"] = broker_url
    env = {**os.environ, **{f"DOCFUSE_{k.upper()}": str(v) for k, v in values.items()}}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return Cluster(Settings(_env_file=None, **values), env, tmp)


@dataclass
class RedisServer:
    """A private redis-server that keeps nothing on disk, as the deployment's default."""

    port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, 20, f"redis-server on port {self.port}")

    def kill(self) -> None:
        """kill -9: every message it held is gone."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.exceptions.ConnectionError:
            return False


@contextmanager
def shared_redis() -> Iterator[str]:
    """A database of the shared Redis server for one test, empty before and after."""
    broker_url = f"{SHARED_REDIS}/{TEST_REDIS_DB}"
    client = redis.Redis.from_url(broker_url)
    client.flushdb()
    try:
        yield broker_url
    finally:
        client.flushdb()
        client.close()
