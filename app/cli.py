"""The `docfuse` command line: a thin layer over app.services."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.config import Settings, get_settings
from app.db import open_database
from app.samples import write_samples
from app.schemas import export_json_schema
from app.services.documents import DocumentNotFoundError, get_document, list_documents
from app.services.export import export_documents, write_export
from app.services.ingest import IngestResult, IngestStatus, collect_paths, ingest_path

cli = typer.Typer(help="docfuse: document understanding with Florence-VL.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cli()


def _settings(dpi: int | None = None) -> Settings:
    settings = get_settings()
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


def _ingest_with_progress(files: list[Path], sessions, settings: Settings) -> list[IngestResult]:  # type: ignore[no-untyped-def]
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


@cli.command()
def demo() -> None:
    """The main job on embedded defaults: ingest the samples, summarise, export JSON."""
    settings = _settings()
    sessions = open_database(settings)
    files = write_samples(settings.data_dir / "samples")
    _print_ingest_summary(_ingest_with_progress(files, sessions, settings))
    with sessions() as session:
        exported = export_documents(session=session)
    output = settings.data_dir / "export.json"
    write_export(exported, output, per_document=False)
    for item in exported:
        words = sum(len(page.words or []) for page in item.pages)
        sources = ",".join(sorted({page.text_source for page in item.pages})) or "-"
        console.print(
            f"document {item.document.id} {item.document.filename}: {item.document.status}, "
            f"{item.document.page_count} pages, {words} words ({sources})"
        )
    console.print(f"export written to {output}")
