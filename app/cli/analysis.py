"""`docfuse ask` and `docfuse extract`: queue an analysis, see it done, print the results."""

from __future__ import annotations

from typing import Annotated

import typer

from app.answer_engines import choose_engine
from app.cli.analysis_output import print_job_results
from app.cli.common import App, ExitCode, command, errors, esc, load_settings, open_app
from app.cli.options import EngineOption
from app.cli.waiting import run_jobs
from app.config import EngineName
from app.db.models import JobStatus
from app.services.analysis import JobResults, submit_analysis
from app.services.documents import document_ids
from app.services.payloads import AnalysisRequest
from pipeline.fields.schemas import load_schema

DocOption = Annotated[str, typer.Argument(help="Document id or sha256 prefix.")]


@command("ask")
def ask_command(
    doc_id: DocOption,
    question: Annotated[str, typer.Argument(help="A question about the document.")],
    page: Annotated[int | None, typer.Option(help="Ask about this page only (0-based).")] = None,
    engine: EngineOption = None,
) -> None:
    """Answer a question about a document, with where the answer is on the page."""
    request = AnalysisRequest.of([question], page=page, engine=engine)
    results = _analyse(doc_id, request, engine)
    if not results.answers or not results.answers[0].answer:
        raise typer.Exit(ExitCode.NOT_FOUND)


@command("extract")
def extract_command(
    doc_id: DocOption,
    schema: Annotated[str, typer.Option(help="receipt, invoice, or a YAML/JSON file.")] = "receipt",
    engine: EngineOption = None,
) -> None:
    """Extract the fields of a schema from a document, grounded on its pages."""
    request = AnalysisRequest.of([], load_schema(schema), engine=engine)
    results = _analyse(doc_id, request, engine)
    if not any(field.value for field in results.fields):
        raise typer.Exit(ExitCode.NOT_FOUND)


def _analyse(doc_id: str, request: AnalysisRequest, engine: EngineName | None) -> JobResults:
    app = open_app()
    with app.sessions() as session:
        (document_id,) = document_ids(session=session, refs=[doc_id])
        job = submit_analysis(session=session, document_id=document_id, request=request)
    _say_engine(app, engine)
    run_jobs(app, [job.id], pages=False)
    results = print_job_results(app, job.id)
    if results.job.status != JobStatus.DONE:
        raise typer.Exit(ExitCode.BAD_INPUT)
    return results


def _say_engine(app: App, engine: EngineName | None) -> None:
    if not app.dispatcher.inline and engine is None:
        return  # the workers' engine answers; waiting says which
    choice = choose_engine(load_settings(engine=engine))
    errors.print(f"engine: {choice.name} ({esc(choice.reason)})")
