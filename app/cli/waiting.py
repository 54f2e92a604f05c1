"""Running submitted jobs to the end: in this process, or by following the workers.

With no broker the dispatcher runs the jobs before `run_jobs` returns (a progress bar over
pages); with one, `run_jobs` follows the job rows until every job of the submitted trees
(retries and follow-ups included) is finished, and gives up with exit code 4 when no live
worker reads a queue that has work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import typer
from rich.progress import Progress, TaskID

from app import interrupts
from app.cli.common import App, ExitCode, errors, esc, progress_bar
from app.db.models import JobKind
from app.read_models import JobInfo
from app.services.jobs import job_tree
from app.services.workers import list_workers, queues_without_workers

POLL_S = 0.3


def run_jobs(
    app: App,
    job_ids: Sequence[int | None],
    *,
    others: Sequence[int | None] = (),
    wait: bool = True,
    pages: bool = True,
) -> list[JobInfo]:
    """Dispatch `job_ids`; unless `wait` is False with a broker, see them finished, and
    `others` too (jobs another process runs), with a progress bar over pages when `pages`.
    Returns the job trees' latest rows."""
    mine = [job_id for job_id in job_ids if job_id is not None]
    roots = sorted({*mine, *(job_id for job_id in others if job_id is not None)})
    with progress_bar(transient=not pages) as bar:
        page_bar = _PageBar(bar, bar.add_task("pages", total=None, visible=pages))
        app.dispatcher.on_page = page_bar.update
        app.dispatcher.send(mine)
        interrupts.stop_if_requested()
        if app.dispatcher.inline or wait:
            return _follow(app, roots, page_bar)
    with app.sessions() as session:
        return job_tree(session=session, job_ids=roots)


class _PageBar:
    """Pages done over pages known, summed over the ingest jobs being followed."""

    def __init__(self, bar: Progress, task: TaskID) -> None:
        self.bar, self.task = bar, task
        self.counts: dict[int, tuple[int, int]] = {}

    def update(self, job_id: int, done: int, total: int) -> None:
        interrupts.stop_if_requested()
        self.counts[job_id] = (done, total)
        self.bar.update(
            self.task,
            completed=sum(done for done, _ in self.counts.values()),
            total=sum(total for _, total in self.counts.values()) or None,
        )


def _follow(app: App, roots: list[int], page_bar: _PageBar) -> list[JobInfo]:
    if not app.dispatcher.inline:
        _say_who_answers(app)
    missing_since: float | None = None
    while True:
        with app.sessions() as session:
            tree = job_tree(session=session, job_ids=roots)
            missing = (
                []
                if app.dispatcher.inline
                else queues_without_workers(session=session, settings=app.settings)
            )
        for job in tree:
            if job.kind == JobKind.INGEST and job.pages_total:
                page_bar.update(job.id, job.pages_done, job.pages_total)
        if all(job.finished for job in tree):
            return tree
        missing_since = (missing_since or time.monotonic()) if missing else None
        # A starting worker registers at once; one silent for stale_after_s is gone.
        grace = app.settings.stale_after_s
        if missing_since is not None and time.monotonic() - missing_since > grace:
            errors.print(
                f"no live worker reads queue {', '.join(missing)}: the work stays queued "
                "(start one with `docfuse worker`, then follow it with `docfuse jobs`)"
            )
            raise typer.Exit(ExitCode.NO_WORKER)
        time.sleep(POLL_S)


def _say_who_answers(app: App) -> None:
    with app.sessions() as session:
        live = [w for w in list_workers(session=session, settings=app.settings) if w.alive]
    engines = sorted({esc(f"{w.engine} ({w.engine_reason})") for w in live if "gpu" in w.queues})
    if engines:
        errors.print(f"engine of the live workers: {'; '.join(engines)}")
