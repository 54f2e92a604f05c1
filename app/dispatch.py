"""Dispatch: after a job is committed, run it in this process or send it to the workers.

With no broker configured (`DOCFUSE_BROKER_URL` empty, the embedded default) jobs run here,
one after the other, follow-ups included: `make demo` and single-machine use need no
service. With a Redis broker each job is sent to Celery by task name, to the `cpu` queue
(ingest) or the `gpu` queue (analysis). Either way the job row, not the message, is the
truth: a message that never arrives is found by `reconcile` and sent again.

The app never imports `workers/`, and `ui/` never imports Celery: both go through here.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence

from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import RedisError
from sqlalchemy.orm import sessionmaker

from app import broker
from app.answer_engines import engine_for
from app.config import Settings
from app.db.models import JobKind, JobRecord
from app.services.analysis import run_analysis_jobs
from app.services.ingest import run_ingest_job
from app.services.jobs import abandon, mark_sent
from app.services.recovery import Recovery, inline_runner_name, recover
from app.services.storage import remove_page_images

logger = logging.getLogger(__name__)

JobPageProgress = Callable[[int, int, int], None]
"""Called with (job id, pages done, page count) while a job runs in this process."""

BROKER_ERRORS = (BrokerError, RedisError, OSError)
INTERRUPTED = "interrupted (Ctrl-C) before it finished; submit it again to retry"


class Dispatcher:
    """Sends committed jobs on their way; one per process (or per CLI command)."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker,
        *,
        on_page: JobPageProgress | None = None,
        in_child: bool = False,
    ) -> None:
        """`in_child`: with no broker, run jobs in a child process (`docfuse run-jobs`)
        rather than this one: a web UI must not load a model or block on OCR."""
        self.settings = settings
        self.sessions = sessions
        self.on_page = on_page
        self.in_child = in_child

    @property
    def inline(self) -> bool:
        return not self.settings.broker_url

    def send(self, job_ids: Iterable[int | None]) -> None:
        """Dispatch these jobs (None entries, "nothing to do", are skipped)."""
        ids = [job_id for job_id in job_ids if job_id is not None]
        if self.inline and self.in_child:
            self._run_in_child(ids)
        elif self.inline:
            self._run_here(ids)
        else:
            for job_id in ids:
                self._send_to_broker(job_id)

    def revoke(self, task_ids: Sequence[str]) -> None:
        """Drop queued messages of cancelled jobs (their rows already say so)."""
        if self.inline:
            return
        for task_id in task_ids:
            try:
                broker.revoke(self.settings, task_id)
            except BROKER_ERRORS as error:
                logger.warning("could not revoke task %s (%s); it will do nothing", task_id, error)

    def reconcile(self) -> Recovery:
        """The one recovery pass (see app.services.recovery), then dispatch what it found."""
        waiting = None
        if not self.inline:
            try:
                waiting = broker.waiting_task_ids(self.settings)
            except BROKER_ERRORS as error:
                logger.warning("broker unreachable (%s); recovery waits for it", error)
                return Recovery()
        with self.sessions() as session:
            recovery = recover(session=session, settings=self.settings, waiting=waiting)
        if recovery.to_dispatch:
            logger.info("dispatching %d recovered job(s)", len(recovery.to_dispatch))
        self.send(recovery.to_dispatch)
        return recovery

    def _send_to_broker(self, job_id: int) -> None:
        task_id = str(uuid.uuid4())
        with self.sessions() as session:
            kind = JobKind(session.get_one(JobRecord, job_id).kind)
            mark_sent(session, job_id, task_id)
            session.commit()
        try:
            broker.send(self.settings, kind, job_id, task_id)
        except BROKER_ERRORS as error:
            logger.warning("job %s queued but not sent (%s); it will be sent again", job_id, error)

    def _run_in_child(self, job_ids: list[int]) -> None:
        if not job_ids:
            return
        log = self.settings.data_dir / "logs" / "jobs.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as output:
            subprocess.Popen(
                [sys.executable, "-m", "app.cli", "run-jobs", *map(str, job_ids)],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not stopped by a Ctrl-C meant for the parent
            )

    def _run_here(self, job_ids: list[int]) -> None:
        """Run the jobs and their follow-ups here. On Ctrl-C, close what was started and
        cancel what was not (see app.services.jobs.abandon), then let it propagate."""
        runner = inline_runner_name()
        pending = self._mark_mine(job_ids, runner)
        try:
            while pending:
                job_id, kind = pending.pop(0)
                followups = self._run_one(job_id, kind, runner)
                pending.extend(self._mark_mine(followups, runner))
        except KeyboardInterrupt:
            with self.sessions() as session:
                interrupted = abandon(session=session, runner=runner, reason=INTERRUPTED)
            for job_id, sha256 in interrupted:
                remove_page_images(self.settings.data_dir, sha256, attempt=job_id)
            raise

    def _mark_mine(self, job_ids: list[int], runner: str) -> list[tuple[int, JobKind]]:
        """Name this process as the jobs' runner, so that a later recovery knows whom to
        ask (a dead runner's jobs are lost and get run again)."""
        marked = []
        with self.sessions() as session:
            for job_id in sorted(job_ids):  # one lock order for every process
                marked.append((job_id, JobKind(session.get_one(JobRecord, job_id).kind)))
                mark_sent(session, job_id, runner)
            session.commit()
        return marked

    def _run_one(self, job_id: int, kind: JobKind, runner: str) -> list[int]:
        if kind is JobKind.INGEST:
            on_page = None
            if self.on_page is not None:
                report = self.on_page

                def on_page(done: int, total: int) -> None:
                    report(job_id, done, total)

            return run_ingest_job(
                sessions=self.sessions,
                settings=self.settings,
                job_id=job_id,
                runner=runner,
                on_page=on_page,
            )
        return run_analysis_jobs(
            sessions=self.sessions,
            settings=self.settings,
            job_id=job_id,
            runner=runner,
            engines=lambda name: engine_for(self.settings, name),
            batch_wait_s=0.0,  # nobody else fills the batch of an in-process run
        )
