"""The export format: pydantic models that are the single source of truth for the JSON.

`docfuse schema` prints the JSON Schema generated from `ExportDocument`. Boxes are
`[x0, y0, x1, y1]` normalised to 0..1 of the rendered page, origin top-left (DESIGN.md);
multiply by the page's `width`/`height` for pixels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.db.models import CorrectionKind, DocumentStatus
from pipeline.types import TextSource

# 2: corrections beside answers and fields; 3: OCR quality of each page; 4: fields name
# their model revision, as answers do (a fine-tuned model's names its adapter), their
# source (the page, or an embedded e-invoice) and a list field's rows with their boxes
SCHEMA_VERSION: Final = 4

Coordinates = tuple[float, float, float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class BoxOut(_Model):
    page: int = Field(description="Index of the page the box lies on (0-based).")
    box: Coordinates = Field(description="[x0, y0, x1, y1], normalised, origin top-left.")


class WordOut(_Model):
    text: str
    box: Coordinates = Field(description="[x0, y0, x1, y1], normalised, origin top-left.")
    confidence: float | None = Field(None, description="OCR confidence 0..1; null for PDF text.")


class DocumentInfo(_Model):
    id: int
    sha256: str = Field(description="Identity of the document: sha256 of its bytes.")
    filename: str = Field(description="Name the file had when it was ingested.")
    file_type: str | None = Field(description="pdf, png, jpeg or tiff, from magic bytes.")
    size_bytes: int
    page_count: int
    status: DocumentStatus
    error: str | None = Field(description="Why the document failed, when it did.")
    source: str = Field(description="How it came in: cli, upload, folder.")
    created_at: datetime
    updated_at: datetime


class PageOut(_Model):
    index: int
    width: int = Field(description="Rendered width in pixels.")
    height: int = Field(description="Rendered height in pixels.")
    dpi: int | None = Field(description="Render DPI for PDF pages; the image's own, if any.")
    text_source: TextSource
    ocr_confidence: float | None = Field(
        description="Mean recognition confidence of the page's OCR words (0..1); null for "
        "a text-layer page or when nothing was read."
    )
    ocr_poor: bool = Field(
        description="OCR read this page poorly: under 3 words, or a mean confidence under "
        "0.85 (a blurred, faint or turned scan; also a blank one). Always false for a "
        "text-layer page. Check its values by eye."
    )
    words: list[WordOut] | None = Field(None, description="Omitted with --no-words.")


class CorrectionOut(_Model):
    """A person's value for a field or an answer, beside the model's (never over it)."""

    kind: CorrectionKind = Field(
        description="corrected: a person gave this value; confirmed: a person kept the "
        "model's value."
    )
    list_index: int = Field(description="Row of a list value (line items); 0 otherwise.")
    value: str | None = Field(description="Normalised like the field's value (ISO dates...).")
    raw_text: str | None = Field(description="As the person typed it.")
    page: int | None = Field(description="Page where the value was found, if it was.")
    boxes: list[BoxOut] = Field(description="Where grounding found the person's value.")
    grounded: bool = Field(description="False when the value was not found on the page.")
    made_at: datetime = Field(description="When the correction or confirmation was made.")


class AnswerOut(_Model):
    question: str
    answer: str
    page: int
    boxes: list[BoxOut] = Field(description="Where the answer is written; empty if not found.")
    grounded: bool = Field(description="False when the answer text was not found on the page.")
    confidence: float | None
    engine: str
    model: str
    model_revision: str
    created_at: datetime
    corrections: list[CorrectionOut] = Field(
        default_factory=list, description="A person's corrections or confirmation of it."
    )


class RowOut(_Model):
    """One row of a list field: a line item's columns, or one value, and where it is."""

    value: dict[str, str | None] | str = Field(
        description="A line item (description, quantity, unit_price, amount) or one value."
    )
    boxes: list[BoxOut] = Field(description="Where the row is written; empty if not found.")


class FieldOut(_Model):
    schema_name: str = Field(alias="schema", description="The field schema, e.g. receipt.")
    name: str
    type: str
    value: str | None = Field(description="Normalised value (ISO date, decimal amount...).")
    raw_text: str | None = Field(description="The text as it appears on the page.")
    page: int | None
    boxes: list[BoxOut]
    grounded: bool = Field(description="False when the value was not found on the page.")
    confidence: float | None
    engine: str
    model: str
    model_revision: str
    source: str = Field(
        description="Where the value came from: 'page' (read by the engine), or the "
        "embedded e-invoice XML it was taken from, e.g. 'e-invoice CII (factur-x.xml)'."
    )
    rows: list[RowOut] | None = Field(
        None, description="A list field's rows (line items), each with its boxes; else null."
    )
    corrections: list[CorrectionOut] = Field(
        default_factory=list,
        description="A person's corrections or confirmation of it (one per list row).",
    )


class Provenance(_Model):
    generator: str = Field(description="docfuse and its version.")
    exported_at: datetime
    ocr_engine: str = Field(description="OCR used for pages without a text layer.")


class ExportDocument(_Model):
    """One document with its pages, answers and fields."""

    schema_version: Literal[4] = SCHEMA_VERSION
    document: DocumentInfo
    pages: list[PageOut]
    answers: list[AnswerOut]
    fields: list[FieldOut]
    provenance: Provenance


def export_json_schema() -> dict:
    """The JSON Schema of one exported document (a combined export is a JSON array of them)."""
    return ExportDocument.model_json_schema(by_alias=True)
