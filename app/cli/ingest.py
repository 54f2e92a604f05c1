"""`docfuse ingest`: submit files and folders, then run or follow their processing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.analysis_output import print_job_results
from app.cli.common import App, ExitCode, command, console, errors, esc, load_settings, open_app
from app.cli.options import AskOption, EngineOption, SchemaOption, analysis_request
from app.cli.waiting import run_jobs
from app.db.models import DocumentStatus, JobKind
from app.read_models import JobInfo, Submission, SubmitOutcome
from app.services.documents import get_document
from app.services.ingest import collect_paths, submit_file
from app.services.payloads import IngestPayload
from pipeline.limits import MAX_DPI, MIN_DPI


@command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="PDF or image files, or folders.")],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Descend into folders.")
    ] = False,
    dpi: Annotated[
        int | None, typer.Option(help="Render DPI for PDF pages.", min=MIN_DPI, max=MAX_DPI)
    ] = None,
    ask: AskOption = None,
    schema: SchemaOption = None,
    engine: EngineOption = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="With a broker: follow the work until every document is done or failed.",
        ),
    ] = False,
) -> None:
    """Ingest documents: store, read pages (text layer or OCR), then answer --ask and --schema.

    Without a broker everything runs here; with DOCFUSE_BROKER_URL the work is queued for
    the workers (exit 0 once queued, unless --wait)."""
    app = open_app(load_settings(dpi=dpi))
    then = analysis_request(ask, schema, engine)
    files = collect_paths(paths, recursive=recursive)
    if not files:
        errors.print("no documents found in the given paths")
        raise typer.Exit(ExitCode.BAD_INPUT)
    resume_interrupted(app)
    payload = IngestPayload(dpi=dpi, then=then)
    submissions = [
        submit_file(sessions=app.sessions, settings=app.settings, path=path, payload=payload)
        for path in files
    ]
    jobs = run_submissions(app, submissions, wait=wait)
    failed = print_submissions(app, submissions, jobs)
    if then is not None and (app.dispatcher.inline or wait):
        print_follow_ups(app, jobs)
    if failed:
        raise typer.Exit(ExitCode.BAD_INPUT)


def run_submissions(app: App, submissions: list[Submission], *, wait: bool) -> list[JobInfo]:
    """Run (or send) the jobs the submissions queued, and follow those of files another
    process is already reading (busy): theirs to run, ours to wait for."""
    busy = [s.outcome is SubmitOutcome.BUSY for s in submissions]
    return run_jobs(
        app,
        [s.job_id for s, other in zip(submissions, busy, strict=True) if not other],
        others=[s.job_id for s, other in zip(submissions, busy, strict=True) if other],
        wait=wait,
    )


def resume_interrupted(app: App) -> None:
    """In-process mode: finish work an earlier run left behind (killed mid-way) first."""
    if not app.dispatcher.inline:
        return
    recovery = app.dispatcher.reconcile()
    if recovery.to_dispatch:
        errors.print(f"resumed {len(recovery.to_dispatch)} unfinished job(s) of an earlier run")


def print_submissions(app: App, submissions: list[Submission], jobs: list[JobInfo]) -> bool:
    """One line per file and a count; True when any file failed."""
    counts = {"new": 0, "known": 0, "queued": 0, "failed": 0}
    for submission in submissions:
        word, line = _describe(app, submission)
        counts[word if word in counts else "queued"] += 1
        console.print(line)
    summary = f"{counts['new']} new, {counts['known']} already known, {counts['failed']} failed"
    if counts["queued"]:
        summary += f", {counts['queued']} queued or in progress"
    console.print(summary)
    return counts["failed"] > 0


def _describe(app: App, submission: Submission) -> tuple[str, str]:
    source = esc(submission.source)
    if submission.document_id is None:
        return "failed", f"[red]failed[/red]  {source}: {esc(submission.reason)}"
    with app.sessions() as session:
        document = get_document(session=session, ref=submission.document_id)
    where = f"{source} -> document {document.id}"
    if document.status == DocumentStatus.FAILED:
        return "failed", f"[red]failed[/red]  {source}: {esc(document.error)}"
    if document.status != DocumentStatus.READY:
        doing = "busy" if submission.outcome is SubmitOutcome.BUSY else "queued"
        return doing, f"[yellow]{doing:<7}[/yellow]  {where}, job {submission.job_id}"
    word = "known" if submission.outcome is SubmitOutcome.KNOWN else "new"
    return word, f"[green]{word:<7}[/green] {where} ({document.page_count} pages)"


def print_follow_ups(app: App, jobs: list[JobInfo]) -> None:
    for job in jobs:
        if job.kind == JobKind.ANALYZE:
            print_job_results(app, job.id, indent="  ")
