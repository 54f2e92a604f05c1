"""`docfuse ask` and `docfuse extract`: queue an analysis, see it done, print the results."""

from __future__ import annotations

from typing import Annotated

import typer

from app.answer_engines import choose_engine
from app.cli.analysis_output import print_job_results
from app.cli.common import App, ExitCode, command, console, errors, esc, load_settings, open_app
from app.cli.options import EngineOption
from app.cli.waiting import run_jobs
from app.config import EngineName
from app.db.models import DocumentStatus, JobStatus
from app.services.analysis import JobResults, submit_analysis
from app.services.documents import document_ids, list_documents
from app.services.payloads import AnalysisRequest
from pipeline.fields.schemas import load_schema

DocOption = Annotated[
    str | None, typer.Argument(help="Document id or sha256 prefix (none with --all).")
]
AllOption = Annotated[bool, typer.Option("--all", help="Every ready document.")]


@command("ask")
def ask_command(
    arguments: Annotated[
        list[str],
        typer.Argument(
            help="DOC_ID and a question about it; with --all, the question alone.",
            metavar="[DOC_ID] QUESTION",
        ),
    ],
    page: Annotated[int | None, typer.Option(help="Ask about this page only (0-based).")] = None,
    engine: EngineOption = None,
    every: AllOption = False,
) -> None:
    """Answer a question about a document (or every ready one), with where the answer is."""
    if len(arguments) != (1 if every else 2):
        errors.print("give DOC_ID and QUESTION, or --all and QUESTION")
        raise typer.Exit(ExitCode.BAD_INPUT)
    request = AnalysisRequest.of([arguments[-1]], page=page, engine=engine)
    results = _analyse(None if every else arguments[0], request, engine)
    if not any(r.answers and r.answers[0].answer for r in results):
        raise typer.Exit(ExitCode.NOT_FOUND)


@command("extract")
def extract_command(
    doc_id: DocOption = None,
    schema: Annotated[str, typer.Option(help="receipt, invoice, or a YAML/JSON file.")] = "receipt",
    engine: EngineOption = None,
    every: AllOption = False,
) -> None:
    """Extract the fields of a schema from a document (or every ready one), grounded on its
    pages."""
    if (doc_id is None) != every:
        errors.print("give DOC_ID or --all")
        raise typer.Exit(ExitCode.BAD_INPUT)
    request = AnalysisRequest.of([], load_schema(schema), engine=engine)
    results = _analyse(doc_id, request, engine)
    if not any(field.value for r in results for field in r.fields):
        raise typer.Exit(ExitCode.NOT_FOUND)


def _analyse(
    doc_id: str | None, request: AnalysisRequest, engine: EngineName | None
) -> list[JobResults]:
    """One document, or (doc_id None) every ready one; their results, printed."""
    app = open_app()
    with app.sessions() as session:
        if doc_id is None:
            ids = [d.id for d in list_documents(session=session, status=DocumentStatus.READY)]
        else:
            ids = document_ids(session=session, refs=[doc_id])
        jobs = [submit_analysis(session=session, document_id=i, request=request) for i in ids]
    if not jobs:
        errors.print("no ready document")
        raise typer.Exit(ExitCode.NOT_FOUND)
    _say_engine(app, engine)
    run_jobs(app, [job.id for job in jobs], pages=False)
    results = []
    for job in jobs:
        if doc_id is None:
            console.print(f"document {job.document_id}:")
        results.append(print_job_results(app, job.id, indent="  " if doc_id is None else ""))
    if any(r.job.status != JobStatus.DONE for r in results):
        raise typer.Exit(ExitCode.BAD_INPUT)
    return results


def _say_engine(app: App, engine: EngineName | None) -> None:
    if not app.dispatcher.inline and engine is None:
        return  # the workers' engine answers; waiting says which
    choice = choose_engine(load_settings(engine=engine))
    errors.print(f"engine: {choice.name} ({esc(choice.reason)})")
