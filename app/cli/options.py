"""Options several commands share: questions, a field schema, an engine."""

from __future__ import annotations

from typing import Annotated

import typer

from app.config import EngineName
from app.services.payloads import AnalysisRequest
from pipeline.fields.schemas import load_schema

AskOption = Annotated[
    list[str] | None,
    typer.Option("--ask", help="A question to answer about each document (repeatable)."),
]
SchemaOption = Annotated[
    str | None, typer.Option(help="Fields to extract: receipt, invoice, or a YAML/JSON file.")
]
EngineOption = Annotated[
    EngineName | None,
    typer.Option("--engine", help="Answer with this engine instead of the configured one."),
]


def analysis_request(
    questions: list[str] | None, schema: str | None, engine: EngineName | None
) -> AnalysisRequest | None:
    """The analysis asked for on the command line, or None when nothing was asked."""
    if not questions and schema is None:
        return None
    field_schema = load_schema(schema) if schema is not None else None
    return AnalysisRequest.of(questions or [], field_schema, engine=engine)
