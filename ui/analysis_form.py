"""The inputs that make an analysis: a field schema (built-in or the user's file) and
questions, shared by the upload and document pages."""

from __future__ import annotations

import streamlit as st

from app.errors import DocfuseError
from app.services.payloads import AnalysisRequest
from pipeline.fields.schemas import FieldSchema, builtin_schema_names, load_schema, parse_schema
from ui.text import plain

NO_SCHEMA = "(no fields)"
OWN_SCHEMA = "(my schema file)"


def schema_input(
    key: str, *, allow_none: bool = True, preferred: list[str] | None = None
) -> FieldSchema | None:
    """A schema chosen by name (the first of `preferred` that is built in, if any, comes
    chosen), or uploaded as YAML or JSON; None when none (or invalid, with the reason
    shown)."""
    choices = [*([NO_SCHEMA] if allow_none else []), *builtin_schema_names(), OWN_SCHEMA]
    first = next((choices.index(name) for name in preferred or [] if name in choices), 0)
    choice = st.selectbox("Fields to extract", choices, index=first, key=f"{key}-schema")
    if choice == NO_SCHEMA:
        return None
    if choice != OWN_SCHEMA:
        return load_schema(choice)
    upload = st.file_uploader(
        "Schema file (YAML or JSON)", type=["yaml", "yml", "json"], key=f"{key}-schema-file"
    )
    if upload is None:
        return None
    try:
        return parse_schema(upload.getvalue(), source=upload.name)
    except DocfuseError as error:
        st.error(plain(error))
        return None


def analysis_request_inputs(key: str) -> AnalysisRequest | None:
    """Questions and fields to answer once documents are read; None when nothing asked."""
    schema = schema_input(key)
    text = st.text_area("Questions (one per line)", key=f"{key}-questions", height=80)
    questions = [line.strip() for line in text.splitlines() if line.strip()]
    if not questions and schema is None:
        return None
    return AnalysisRequest.of(questions, schema)
