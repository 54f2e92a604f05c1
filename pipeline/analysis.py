"""From an engine's raw output to grounded, scored results: the confidence rules in one place.

`analyze_documents` runs one engine batch over several documents (questions and fields of
each) and returns what is stored. Grounding is independent of the engine: the answer text
is looked up in the page's words and the boxes of the match are kept.

Confidence rules:
- grounded text: engine confidence x match score (the match score alone when the engine
  gives none);
- text that cannot be found on the page keeps its text, gets no box, and its confidence is
  halved (`UNGROUNDED_PENALTY`), so it sorts below any grounded result; unless it is a
  field the engine read at a place it names (a currency code read off "£"), which keeps
  the engine's boxes and confidence;
- no text: confidence 0;
- a repeated field (a JSON list of rows, e.g. line items, or of a list field's values):
  each row grounded by its description (or its text), confidence scaled by the share of
  rows found.
A question asked of the whole document is asked of every page; the non-empty answer with
the highest confidence wins.

A PDF with an embedded e-invoice (`pipeline/einvoice.py`) gives exact values: a field the
XML holds takes its value from there with confidence 1, whatever the engine read, and is
grounded on the page by its printed spelling ("529,87" for 529.87, "05.03.2018" for
2018-03-05); its `source` names the XML.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.einvoice import EInvoice
from pipeline.engines.base import (
    Answer,
    Engine,
    EngineOutput,
    EngineRequest,
    FieldSpec,
    FieldValue,
    Question,
)
from pipeline.errors import BadInputError
from pipeline.fields.normalize import (
    clean_text,
    day_first_in,
    find_amounts,
    find_dates,
    normalize,
)
from pipeline.grounding import ground
from pipeline.layout import group_lines
from pipeline.types import Box, Page

UNGROUNDED_PENALTY = 0.5
PAGE_SOURCE = "page"  # a field's value as the engine read it from the pages


@dataclass(frozen=True, slots=True)
class AskedQuestion:
    """A question as a user asks it: about one page, or (page None) the whole document."""

    text: str
    page: int | None = None


@dataclass(frozen=True, slots=True)
class DocumentWork:
    """One document's pages and what to find in them."""

    pages: Sequence[Page]
    questions: Sequence[AskedQuestion] = ()
    fields: Sequence[FieldSpec] = ()
    einvoice: EInvoice | None = None  # the invoice XML the file carries, if any


@dataclass(frozen=True, slots=True)
class Grounded:
    boxes: list[Box]
    confidence: float


@dataclass(frozen=True, slots=True)
class ScoredAnswer:
    question: str
    text: str
    page: int
    boxes: list[Box]
    confidence: float


@dataclass(frozen=True, slots=True)
class ScoredField:
    name: str
    type: str
    value: str | None  # normalised: ISO date, plain decimal amount...
    raw_text: str | None
    page: int | None
    boxes: list[Box]
    confidence: float
    source: str = PAGE_SOURCE
    row_boxes: list[list[Box]] | None = None  # a repeated field's boxes, row by row


@dataclass(frozen=True, slots=True)
class DocumentResults:
    answers: list[ScoredAnswer]
    fields: list[ScoredField]


def analyze_documents(engine: Engine, work: Sequence[DocumentWork]) -> list[DocumentResults]:
    """One engine batch over every document in `work`; results in the same order."""
    requests = [EngineRequest(w.pages, page_questions(w), w.fields) for w in work]
    outputs = engine.analyze(requests)
    return [_score(w, output) for w, output in zip(work, outputs, strict=True)]


def page_questions(work: DocumentWork) -> list[Question]:
    """Each asked question as the per-page questions an engine answers."""
    indices = [page.index for page in work.pages]
    questions: list[Question] = []
    for asked in work.questions:
        if asked.page is not None and asked.page not in indices:
            raise BadInputError(
                f"the document has no page {asked.page} (pages {min(indices)}..{max(indices)})"
            )
        targets = indices if asked.page is None else [asked.page]
        questions.extend(Question(index, asked.text) for index in targets)
    return questions


def ground_text(
    text: str, pages: Sequence[Page], engine_confidence: float | None, near: Box | None
) -> Grounded:
    """Boxes for `text` on the pages, and the combined confidence (see module doc)."""
    if not text.strip():
        return Grounded([], 0.0)
    base = engine_confidence if engine_confidence is not None else 1.0
    match = ground(text, [page.words for page in pages], near=near)
    if match is None:
        return Grounded([], base * UNGROUNDED_PENALTY)
    return Grounded(match.boxes, base * match.score)


def _score(work: DocumentWork, output: EngineOutput) -> DocumentResults:
    by_index = {page.index: page for page in work.pages}
    answers = iter(output.answers)
    scored = []
    for asked in work.questions:
        count = len(by_index) if asked.page is None else 1
        per_page = [_score_answer(next(answers), by_index) for _ in range(count)]
        best = max(per_page, key=lambda answer: (bool(answer.text), answer.confidence))
        scored.append(best)
    embedded = work.einvoice.values if work.einvoice else {}
    texts = _line_texts(work.pages) if embedded else []  # grouped once for every XML field
    day_first = pages_day_first(work.pages)
    fields = [
        _score_embedded(value.field, work.einvoice, work.pages, texts)
        if work.einvoice and value.field.name in embedded
        else _score_field(value, work.pages, by_index, day_first)
        for value in output.fields
    ]
    return DocumentResults(scored, fields)


def pages_day_first(pages: Sequence[Page]) -> bool:
    """Whether the document writes its numeric dates day first (`day_first_in`), from its
    pages' words in reading order."""
    return day_first_in(" ".join(word.text for word in page.words) for page in pages)


def _score_answer(answer: Answer, by_index: dict[int, Page]) -> ScoredAnswer:
    page = answer.question.page
    near = answer.boxes[0] if answer.boxes else None
    grounded = ground_text(answer.text, [by_index[page]], answer.confidence, near)
    text = answer.question.text
    return ScoredAnswer(text, answer.text, page, grounded.boxes, grounded.confidence)


def _score_field(
    value: FieldValue, pages: Sequence[Page], by_index: dict[int, Page], day_first: bool
) -> ScoredField:
    """A field the engine read, grounded on the pages; its value normalised, numeric dates
    in the document's own order (`day_first`)."""
    text = value.text.strip()
    searched = [by_index[value.page]] if value.page is not None else list(pages)
    rows = _rows(text)
    row_boxes = None
    if rows is not None:
        grounded, row_boxes = _ground_rows(rows, searched, value.confidence)
    else:
        near = value.boxes[0] if value.boxes else None
        grounded = ground_text(text, searched, value.confidence, near)
        if not grounded.boxes and text and value.boxes:
            grounded = _where_the_engine_read(value)
    spec = value.field
    return ScoredField(
        name=spec.name,
        type=spec.type,
        value=_normalized(spec, text, rows, day_first),
        raw_text=text or None,
        page=grounded.boxes[0].page if grounded.boxes else value.page,
        boxes=grounded.boxes,
        confidence=grounded.confidence,
        row_boxes=row_boxes,
    )


def _score_embedded(
    spec: FieldSpec, einvoice: EInvoice, pages: Sequence[Page], line_texts: Sequence[str]
) -> ScoredField:
    """The e-invoice's value, exact (confidence 1), grounded where the page prints it
    (`line_texts`: the pages' lines, as `_line_texts` gives them)."""
    value = einvoice.values[spec.name]
    rows = _rows(value)
    row_boxes = None
    if rows is not None:
        (grounded, row_boxes), printed = _ground_rows(rows, pages, 1.0), value
    else:
        printed = printed_spelling(spec.type, value, line_texts) or value
        grounded = ground_text(printed, pages, 1.0, None)
    typed = spec.type in ("date", "amount") or rows is not None
    return ScoredField(
        name=spec.name,
        type=spec.type,
        value=value if typed else normalize(spec.type, value),
        raw_text=printed,
        page=grounded.boxes[0].page if grounded.boxes else None,
        boxes=grounded.boxes,
        confidence=1.0,
        source=einvoice.source,
        row_boxes=row_boxes,
    )


def _line_texts(pages: Sequence[Page]) -> list[str]:
    """Every line of the pages, in reading order, as clean text."""
    return [clean_text(line.text) for page in pages for line in group_lines(page.words)]


def printed_spelling(value_type: str, value: str, line_texts: Sequence[str]) -> str | None:
    """How the lines print a normalised date or amount (the first line that does), so that
    grounding looks for "529,87" rather than "529.87"; None when no line prints it."""
    finders = {
        "amount": lambda text: [(str(amount), span) for amount, span in find_amounts(text)],
        "date": lambda text: [(day.isoformat(), span) for day, span in find_dates(text)],
    }
    if value_type not in finders:
        return None
    for text in line_texts:
        for found, (start, end) in finders[value_type](text):
            if found == value:
                return text[start:end].strip()
    return None


def _normalized(
    spec: FieldSpec, text: str, rows: list[dict[str, Any] | str] | None, day_first: bool
) -> str | None:
    """The stored value: normalised as its type says; a list field's values each so, as a
    JSON array (rows of line items keep their own form)."""
    if not text:
        return None
    options = {"day_first": day_first, "unsigned": spec.unsigned}
    if rows is None or not all(isinstance(row, str) for row in rows):
        return normalize(spec.type, text, **options)
    values = [normalize(spec.type, row, **options) or row for row in rows if isinstance(row, str)]
    return json.dumps(values, ensure_ascii=False)


def _where_the_engine_read(value: FieldValue) -> Grounded:
    """A value the page does not spell but the engine read off it, such as the currency
    GBP read off "£42.00": the engine's boxes stand, at its confidence."""
    confidence = value.confidence if value.confidence is not None else 1.0
    return Grounded(list(value.boxes), confidence)


def _rows(text: str) -> list[dict[str, Any] | str] | None:
    """A repeated field's value: a JSON list of row objects (line items) or of strings (a
    list field's values), else None."""
    if not text.startswith("["):
        return None
    try:
        rows = json.loads(text)
    except ValueError:
        return None
    if isinstance(rows, list) and all(isinstance(row, (dict, str)) for row in rows):
        return rows
    return None


def _ground_rows(
    rows: list[dict[str, Any] | str], pages: Sequence[Page], engine_confidence: float | None
) -> tuple[Grounded, list[list[Box]]]:
    """Each row grounded by its text (a row object by its description): all the boxes
    with the combined confidence, and the boxes row by row."""
    per_row = []
    for row in rows:
        text = row if isinstance(row, str) else str(row.get("description") or "")
        per_row.append(ground_text(text, pages, None, None).boxes)
    base = engine_confidence if engine_confidence is not None else 1.0
    found = sum(1 for boxes in per_row if boxes)
    boxes = [box for row_boxes in per_row for box in row_boxes]
    return Grounded(boxes, base * found / len(rows) if rows else 0.0), per_row
