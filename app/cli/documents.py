"""`docfuse documents`, `export`, `schema` and `delete`: reading and removing documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.cli.common import ExitCode, command, console, errors, esc, open_app
from app.db.models import DocumentStatus
from app.schemas import export_json_schema
from app.services.documents import delete_documents, document_ids, list_documents
from app.services.export import export_documents, write_export
from app.services.results import models_by_document
from app.services.training_export import training_examples, write_training_set
from pipeline.fields.schemas import load_schema

DocIds = Annotated[list[str], typer.Argument(help="Document ids or sha256 prefixes.")]


@command()
def documents(
    status: Annotated[
        DocumentStatus | None, typer.Option(help="Only documents with this status.")
    ] = None,
) -> None:
    """List documents with their status and page count."""
    app = open_app()
    table = Table("id", "status", "pages", "type", "filename", "sha256", "models", "error")
    with app.sessions() as session:
        models = models_by_document(session)
        for doc in list_documents(session=session, status=status):
            table.add_row(
                str(doc.id),
                doc.status,
                str(doc.page_count),
                doc.file_type or "-",
                esc(doc.filename),
                doc.sha256[:12],
                esc("\n".join(models.get(doc.id, []))) or "-",
                esc(doc.error or ""),
            )
    console.print(table)


@command()
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
    training: Annotated[
        Path | None,
        typer.Option(help="Write corrected and confirmed values as training data here instead."),
    ] = None,
    schema: Annotated[
        str | None, typer.Option(help="With --training: only this schema's fields.")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="With --training: corrections from this day."),
    ] = None,
) -> None:
    """Write the export JSON (see `docfuse schema`), or with --training the corrections as
    LLaVA conversations for `docfuse finetune`."""
    if training is not None:
        _export_training(training, schema, since)
        return
    if not doc_ids and not all_documents:
        errors.print("name document ids, or pass --all")
        raise typer.Exit(ExitCode.BAD_INPUT)
    app = open_app()
    with app.sessions() as session:
        ids = None if all_documents else document_ids(session=session, refs=doc_ids or [])
        exported = export_documents(session=session, document_ids=ids, include_words=words)
    per_document = output.is_dir() or output.suffix.lower() != ".json"
    written = write_export(exported, output, per_document=per_document)
    console.print(
        f"exported {len(exported)} documents to {esc(output)}"
        + (f" ({len(written)} files)" if per_document else "")
    )


def _export_training(out_dir: Path, schema: str | None, since: datetime | None) -> None:
    app = open_app()
    field_schema = load_schema(schema) if schema else None
    with app.sessions() as session:
        examples, skipped = training_examples(
            session, schema=field_schema, since=since.replace(tzinfo=UTC) if since else None
        )
        written = write_training_set(session, app.settings, examples, out_dir)
    for reason in skipped:
        console.print(f"skipped {esc(reason)}")
    console.print(
        f"training data: {written.train} train and {written.validation} validation examples "
        f"from {written.documents} documents in {esc(out_dir)}"
    )
    if not examples:
        raise typer.Exit(ExitCode.NOT_FOUND)


@command()
def schema() -> None:
    """Print the JSON Schema of one exported document."""
    typer.echo(json.dumps(export_json_schema(), indent=2))


@command()
def delete(doc_ids: DocIds) -> None:
    """Delete documents with their pages, results, jobs, original and page images."""
    app = open_app()
    with app.sessions() as session:
        ids = document_ids(session=session, refs=doc_ids)
        deletion = delete_documents(session=session, settings=app.settings, document_ids=ids)
    app.dispatcher.revoke(deletion.revoke)
    for document in deletion.documents:
        console.print(f"deleted document {document.id} ({esc(document.filename)})")
