"""The `docfuse` command line: a thin layer over app.services."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.orm import sessionmaker

from app.config import EngineName, Settings, get_settings
from app.db import open_database
from app.engines import build_engine, choose_engine
from app.samples import write_samples
from app.schemas import export_json_schema
from app.services import analysis
from app.services.documents import DocumentNotFoundError, get_document, list_documents
from app.services.evaluation import evaluate
from app.services.export import export_documents, write_export
from app.services.ingest import IngestResult, IngestStatus, collect_paths, ingest_path
from pipeline.engines.base import Engine
from pipeline.errors import DocfuseError
from pipeline.fields.schemas import load_schema

T = TypeVar("T")
cli = typer.Typer(help="docfuse: document understanding with Florence-VL.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cli()


def _settings(dpi: int | None = None) -> Settings:
    try:
        settings = get_settings()
    except ValidationError as error:
        errors.print(f"invalid DOCFUSE_* setting: {error}")
        raise typer.Exit(2) from error
    return settings if dpi is None else settings.model_copy(update={"dpi": dpi})


@cli.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="PDF or image files, or folders.")],
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Descend into folders.")
    ] = False,
    dpi: Annotated[
        int | None, typer.Option(help="Render DPI for PDF pages.", min=36, max=600)
    ] = None,
) -> None:
    """Ingest documents: store, render pages, extract words (text layer or OCR)."""
    settings = _settings(dpi)
    sessions = open_database(settings)
    files = collect_paths(paths, recursive=recursive)
    if not files:
        errors.print("no documents found in the given paths")
        raise typer.Exit(1)
    results = _ingest_with_progress(files, sessions, settings)
    _print_ingest_summary(results)
    if any(result.status is IngestStatus.FAILED for result in results):
        raise typer.Exit(2)


def _ingest_with_progress(
    files: list[Path], sessions: sessionmaker, settings: Settings
) -> list[IngestResult]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    results = []
    with Progress(*columns, console=errors) as progress:
        overall = progress.add_task("files", total=len(files))
        pages = progress.add_task("pages", total=None)
        for path in files:
            progress.update(pages, description=f"  {path.name}", completed=0, total=None)

            def on_page(done: int, total: int) -> None:
                progress.update(pages, completed=done, total=total)

            result = ingest_path(sessions=sessions, settings=settings, path=path, on_page=on_page)
            results.append(result)
            progress.advance(overall)
    return results


def _print_ingest_summary(results: list[IngestResult]) -> None:
    for result in results:
        if result.status is IngestStatus.FAILED:
            console.print(f"[red]failed[/red]  {result.path}: {result.reason}")
        else:
            word = "new    " if result.status is IngestStatus.NEW else "known  "
            console.print(
                f"[green]{word}[/green] {result.path} -> document {result.document_id} "
                f"({result.page_count} pages)"
            )
    counts = {status: sum(r.status is status for r in results) for status in IngestStatus}
    console.print(
        f"{counts[IngestStatus.NEW]} new, {counts[IngestStatus.KNOWN]} already known, "
        f"{counts[IngestStatus.FAILED]} failed"
    )


@cli.command()
def documents(
    status: Annotated[str | None, typer.Option(help="Only documents with this status.")] = None,
) -> None:
    """List documents with their status and page count."""
    sessions = open_database(_settings())
    table = Table("id", "status", "pages", "type", "filename", "sha256", "error")
    with sessions() as session:
        for doc in list_documents(session=session, status=status):
            table.add_row(
                str(doc.id),
                doc.status,
                str(doc.page_count),
                doc.file_type or "-",
                doc.filename,
                doc.sha256[:12],
                doc.error or "",
            )
    console.print(table)


@cli.command()
def export(
    doc_ids: Annotated[
        list[str] | None, typer.Argument(help="Document ids or sha256 prefixes.")
    ] = None,
    all_documents: Annotated[bool, typer.Option("--all", help="Export every document.")] = False,
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="A .json file, or a folder for one file per document."),
    ] = Path("docfuse-export.json"),
    words: Annotated[
        bool, typer.Option("--words/--no-words", help="Include words and boxes.")
    ] = True,
) -> None:
    """Write the export JSON (see `docfuse schema`)."""
    if not doc_ids and not all_documents:
        errors.print("name document ids, or pass --all")
        raise typer.Exit(1)
    sessions = open_database(_settings())
    with sessions() as session:
        try:
            ids = (
                None
                if all_documents
                else [get_document(session=session, ref=r).id for r in doc_ids or []]
            )
        except DocumentNotFoundError as error:
            errors.print(str(error))
            raise typer.Exit(1) from error
        exported = export_documents(session=session, document_ids=ids, include_words=words)
    per_document = output.is_dir() or output.suffix.lower() != ".json"
    written = write_export(exported, output, per_document=per_document)
    console.print(
        f"exported {len(exported)} documents to {output}"
        + (f" ({len(written)} files)" if per_document else "")
    )


@cli.command()
def schema() -> None:
    """Print the JSON Schema of one exported document."""
    typer.echo(json.dumps(export_json_schema(), indent=2))


DEMO_SCHEMAS = {"invoice-acme.pdf": "invoice", "receipt-corner-cafe.png": "receipt"}
DEMO_QUESTION = "What is the total?"


@cli.command()
def demo() -> None:
    """The main job on embedded defaults: ingest the samples, extract fields, answer a
    question on each, write the JSON export."""
    settings = _settings()
    sessions = open_database(settings)
    files = write_samples(settings.data_dir / "samples")
    results = _ingest_with_progress(files, sessions, settings)
    _print_ingest_summary(results)
    engine = _engine(settings, None)
    for path, result in zip(files, results, strict=True):
        if result.document_id is None or result.status is IngestStatus.FAILED:
            continue
        fields = analysis.extract(
            sessions=sessions,
            settings=settings,
            engine=engine,
            document_id=result.document_id,
            schema=load_schema(DEMO_SCHEMAS[path.name]),
        )
        answer = analysis.ask(
            sessions=sessions,
            settings=settings,
            engine=engine,
            document_id=result.document_id,
            question=DEMO_QUESTION,
        )
        found = ", ".join(f"{f.name}={_short(f.value, 40)}" for f in fields if f.value)
        console.print(f"{path.name}: {found}")
        console.print(f"  {DEMO_QUESTION} -> {answer.answer or '(no answer)'}")
    with sessions() as session:
        exported = export_documents(session=session)
    output = settings.data_dir / "export.json"
    write_export(exported, output, per_document=False)
    console.print(f"export of {len(exported)} documents written to {output}")


def _engine(settings: Settings, engine: EngineName | None) -> Engine:
    if engine is not None:
        settings = settings.model_copy(update={"engine": engine})
    choice = choose_engine(settings)
    errors.print(f"engine: {choice.name} ({choice.reason})")
    return build_engine(settings, choice)


def _document_id(sessions: sessionmaker, ref: str) -> int:
    with sessions() as session:
        try:
            return get_document(session=session, ref=ref).id
        except DocumentNotFoundError as error:
            errors.print(str(error))
            raise typer.Exit(1) from error


EngineOption = Annotated[
    EngineName | None, typer.Option("--engine", help="Overrides DOCFUSE_ENGINE.")
]


def _analyse(doc_id: str, engine: EngineName | None, run: Callable[..., T]) -> T:
    """Resolve the document, build the engine, run an analysis use case; errors -> exit 1."""
    settings = _settings()
    sessions = open_database(settings)
    document_id = _document_id(sessions, doc_id)
    try:
        return run(
            sessions=sessions,
            settings=settings,
            engine=_engine(settings, engine),
            document_id=document_id,
        )
    except (DocfuseError, ValueError) as error:
        errors.print(str(error))
        raise typer.Exit(1) from error


@cli.command("extract")
def extract_command(
    doc_id: Annotated[str, typer.Argument(help="Document id or sha256 prefix.")],
    schema: Annotated[str, typer.Option(help="receipt, invoice, or a YAML/JSON file.")] = "receipt",
    engine: EngineOption = None,
) -> None:
    """Extract the fields of a schema from a document, grounded on its pages."""
    try:
        field_schema = load_schema(schema)
    except DocfuseError as error:
        errors.print(str(error))
        raise typer.Exit(1) from error
    rows = _analyse(doc_id, engine, partial(analysis.extract, schema=field_schema))
    table = Table("field", "value", "raw text", "page", "confidence", "boxes")
    for row in rows:
        table.add_row(
            row.name,
            _short(row.value),
            _short(row.raw_text),
            "-" if row.page_index is None else str(row.page_index),
            f"{row.confidence:.2f}" if row.confidence is not None else "-",
            str(len(row.boxes)) if row.boxes else ("not found on page" if row.raw_text else "-"),
        )
    console.print(table)


@cli.command("ask")
def ask_command(
    doc_id: Annotated[str, typer.Argument(help="Document id or sha256 prefix.")],
    question: Annotated[str, typer.Argument(help="A question about the document.")],
    page: Annotated[int | None, typer.Option(help="Ask about this page only (0-based).")] = None,
    engine: EngineOption = None,
) -> None:
    """Answer a question about a document, with where the answer is on the page."""
    answer = _analyse(doc_id, engine, partial(analysis.ask, question=question, page=page))
    if not answer.answer:
        console.print("no answer found")
        return
    where = f"page {answer.page_index}"
    box = ", ".join(f"{c:.3f}" for c in answer.boxes[0][1:]) if answer.boxes else ""
    where += f", box [{box}]" if box else ", not found on the page"
    console.print(f"{answer.answer}  ({where}; confidence {answer.confidence:.2f})")


@cli.command("eval")
def eval_command(
    folder: Annotated[
        Path, typer.Argument(help="A labelled folder.", exists=True, file_okay=False)
    ],
    fmt: Annotated[str, typer.Option("--format", help="sroie or icdar2013.")] = "sroie",
    engine: EngineOption = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N documents.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Also print one JSON line.")] = False,
) -> None:
    """Run the whole pipeline on a labelled folder and score it."""
    settings = _settings()
    if engine is not None:
        settings = settings.model_copy(update={"engine": engine})
    choice = choose_engine(settings)
    errors.print(f"engine: {choice.name} ({choice.reason})")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=errors) as progress:
        task = progress.add_task("documents", total=None)
        report = evaluate(
            folder,
            fmt,
            settings=settings,
            choice=choice,
            limit=limit,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        ).as_dict()
    table = Table("field", "accuracy", "grounding", "n")
    for name, scores in report["fields"].items():
        table.add_row(name, _pct(scores["accuracy"]), _pct(scores["grounding"]), str(scores["n"]))
    console.print(table)
    console.print(
        f"documents {report['documents']}, OCR CER {_pct(report['ocr']['cer'])}, "
        f"word recall {_pct(report['ocr']['word_recall'])}, {report['pages_per_s']} pages/s, "
        f"engine {report['engine']}"
    )
    for failure in report["failures"]:
        console.print(f"[red]failed[/red] {failure}")
    if as_json:
        typer.echo(json.dumps(report))


def _short(text: str | None, limit: int = 60) -> str:
    if not text:
        return "-"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
