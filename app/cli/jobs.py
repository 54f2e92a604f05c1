"""`docfuse jobs`, `cancel`, `workers`, `worker` and `migrate`: operating the queue."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.table import Table

from app.answer_engines import choose_engine
from app.cli.common import command, console, errors, esc, load_settings, open_app, short
from app.db import open_database
from app.db.migrate import current_revision, upgrade
from app.db.models import JobStatus
from app.queues import ALL_QUEUES
from app.services.documents import MAX_ID
from app.services.jobs import cancel_job, list_jobs
from app.services.workers import list_workers


@command()
def jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs with this status.")] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Retry interrupted jobs and re-send queued ones whose message is lost.",
        ),
    ] = False,
) -> None:
    """List jobs: what runs where, how far it got, how it ended."""
    app = open_app()
    if repair:
        recovery = app.dispatcher.reconcile()
        console.print(
            f"repair: {len(recovery.retried)} interrupted job(s) retried, "
            f"{len(recovery.resend)} lost job(s) sent again, {len(recovery.gave_up)} given up"
        )
    table = Table("job", "document", "kind", "status", "attempt", "pages", "worker", "message")
    with app.sessions() as session:
        for job in list_jobs(session=session, status=status):
            table.add_row(
                str(job.id),
                str(job.document_id),
                job.kind,
                job.status,
                str(job.attempt),
                f"{job.pages_done}/{job.pages_total}" if job.pages_total else "-",
                esc(job.worker or "-"),
                short(job.message),
            )
    console.print(table)


@command()
def cancel(
    job_id: Annotated[int, typer.Argument(help="The job to cancel.", min=1, max=MAX_ID)],
) -> None:
    """Cancel a queued or running job; running work stops at its next page or batch."""
    app = open_app()
    with app.sessions() as session:
        job = cancel_job(session=session, job_id=job_id)
    if job.task_id:
        app.dispatcher.revoke([job.task_id])
    console.print(f"job {job.id} cancelled")


@command("run-jobs", hidden=True)
def run_jobs_command(
    job_ids: Annotated[list[int], typer.Argument(help="Jobs to run.", min=1, max=MAX_ID)],
) -> None:
    """Run queued jobs in this process (the child process of a UI with no broker)."""
    app = open_app()
    app.dispatcher.send(job_ids)


@command()
def workers() -> None:
    """List registered workers: queues, engine, and whether they are alive."""
    app = open_app()
    table = Table("worker", "alive", "queues", "engine", "model", "last heartbeat")
    with app.sessions() as session:
        for worker in list_workers(session=session, settings=app.settings):
            table.add_row(
                esc(worker.name),
                "yes" if worker.alive else "[red]no[/red]",
                ",".join(worker.queues),
                esc(worker.engine),
                esc(worker.model),
                worker.heartbeat_at.isoformat(timespec="seconds"),
            )
    console.print(table)


@command()
def migrate() -> None:
    """Bring the database to the latest schema (every command also does, first)."""
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    console.print(f"database at revision {current_revision(settings.database_url)}")


@command()
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues to read: cpu (ingest), gpu (analysis).")
    ] = ",".join(ALL_QUEUES),
    concurrency: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
) -> None:
    """Run a Celery worker (needs DOCFUSE_BROKER_URL). Replaces this process."""
    settings = load_settings()
    if not settings.broker_url:
        errors.print("a worker needs a broker: set DOCFUSE_BROKER_URL (e.g. redis://host:6379/0)")
        raise typer.Exit(2)
    names = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ALL_QUEUES))
    if unknown or not names:
        named = esc(", ".join(unknown))
        errors.print(f"unknown queue {named}; the queues are {', '.join(ALL_QUEUES)}")
        raise typer.Exit(2)
    open_database(settings)  # the data dir and the schema, before any process forks
    if "gpu" in names:
        choice = choose_engine(settings)
        errors.print(f"engine: {choice.name} ({esc(choice.reason)})")
    argv = [
        sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
        "--queues", ",".join(names), "--concurrency", str(concurrency),
        "--hostname", f"docfuse{os.getpid()}@%h", "--without-gossip", "--without-mingle",
        "--loglevel", "INFO",
    ]  # fmt: skip
    sys.stdout.flush()
    os.execve(sys.executable, argv, _thread_limits(settings.worker_threads, concurrency))


def _thread_limits(threads: int, concurrency: int) -> dict[str, str]:
    """The environment of the worker, with its compute threads capped: PyTorch (OpenMP)
    and BLAS use every core by default, so `concurrency` processes (or several workers on
    one machine) would each start one thread per core and slow each other down."""
    environment = dict(os.environ)
    count = threads or max(1, (os.cpu_count() or 1) // concurrency)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        environment.setdefault(name, str(count))
    return environment
