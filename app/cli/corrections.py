"""`docfuse correct` and `docfuse confirm`: a person's values beside the model's."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import command, console, esc, open_app, short
from app.errors import BadInputError
from app.schemas import CorrectionOut
from app.services.corrections import confirm_answer, confirm_field, correct_answer, correct_field
from app.services.documents import document_ids
from pipeline.fields.schemas import load_schema

DocArgument = Annotated[str, typer.Argument(help="Document id or sha256 prefix.")]
SchemaOption = Annotated[
    str | None, typer.Option(help="The fields' schema: receipt, invoice, or a YAML/JSON file.")
]
QuestionOption = Annotated[str | None, typer.Option(help="The question whose answer it is.")]
RowOption = Annotated[int, typer.Option(help="Row of a list field (line items).", min=0)]


@command()
def correct(
    doc_id: DocArgument,
    values: Annotated[
        list[str], typer.Argument(help="FIELD=VALUE ... with --schema; the answer with --question.")
    ],
    schema: SchemaOption = None,
    question: QuestionOption = None,
    row: RowOption = 0,
) -> None:
    """Correct fields (FIELD=VALUE ... --schema NAME) or an answer (VALUE --question Q)."""
    app = open_app()
    _one_target(schema, question)
    with app.sessions() as session:
        (document_id,) = document_ids(session=session, refs=[doc_id])
        if question is not None:
            answer = correct_answer(
                session=session,
                settings=app.settings,
                document_id=document_id,
                question=question,
                text=" ".join(values),
            )
            _print(question, answer)
            return
        schema_name = load_schema(schema or "").name
        for name, text in _assignments(values):
            corrected = correct_field(
                session=session,
                settings=app.settings,
                document_id=document_id,
                schema_name=schema_name,
                field_name=name,
                text=text,
                list_index=row,
            )
            _print(f"{schema_name}.{name}", corrected)


@command()
def confirm(
    doc_id: DocArgument,
    fields: Annotated[
        list[str] | None, typer.Argument(help="The fields to confirm, with --schema.")
    ] = None,
    schema: SchemaOption = None,
    question: QuestionOption = None,
    row: RowOption = 0,
) -> None:
    """Confirm the model's values: fields (FIELD ... --schema NAME) or an answer (--question)."""
    app = open_app()
    _one_target(schema, question)
    with app.sessions() as session:
        (document_id,) = document_ids(session=session, refs=[doc_id])
        if question is not None:
            _print(
                question,
                confirm_answer(session=session, document_id=document_id, question=question),
            )
            return
        schema_name = load_schema(schema or "").name
        for name in fields or []:
            confirmed = confirm_field(
                session=session,
                document_id=document_id,
                schema_name=schema_name,
                field_name=name,
                list_index=row,
            )
            _print(f"{schema_name}.{name}", confirmed)


def _one_target(schema: str | None, question: str | None) -> None:
    if (schema is None) == (question is None):
        raise BadInputError("give either --schema (fields) or --question (an answer)")


def _assignments(values: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name.strip():
            raise BadInputError(f"{value!r} is not FIELD=VALUE")
        pairs.append((name.strip(), text))
    return pairs


def _print(what: str, correction: CorrectionOut) -> None:
    where = f"page {correction.page}" if correction.grounded else "not found on the page"
    console.print(f"{correction.kind} {esc(what)} = {short(correction.value)} ({where})")
