"""`docfuse eval`: the whole pipeline on a labelled folder, scored against its labels.

Documents are ingested into a private, temporary data dir (a throwaway SQLite database), so
an evaluation never touches the user's documents. Formats:

- `sroie`: `images/*.jpg`, `keys/*.json` (company, date, address, total), `boxes/*.csv`
  (line transcripts with boxes). Fields are extracted with the built-in `receipt` schema.
- `qa`: documents with questions and accepted answers in `qa.jsonl` (see
  `app.evaluation.qa`); each question is asked, and scored by exact match and ANLS.
- `docfuse`: the generic gold format for a user's own documents: `docs/*` (any file docfuse
  reads) and `expected/<file stem>.json` holding field values (ISO dates, plain decimals).
  The schema is `schema.yaml` (or `.yml`, `.json`) in the folder when there is one, else
  the built-in schema that names the most expected keys; keys that are no field of it
  (e.g. `source`) are ignored. Besides each field, `all_fields` counts the documents whose
  every expected field is right.
- `icdar2013`: `*.pdf` with `*-str.xml` table cells (boxes in PDF points, origin bottom
  left). There are no key fields: each cell's text is the "value", so the report gives how
  often the words inside a cell spell it (`accuracy`) and how often grounding the cell text
  lands in the cell (`grounding`).

Values are compared after normalisation (ISO dates, decimal amounts) and, for strings,
case-, accent- and spacing-insensitively: OCR and labels disagree on those, a reader doesn't.
"""

from __future__ import annotations

import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymupdf

from app.answer_engines import EngineChoice
from app.config import Settings
from app.db import open_database
from app.db.models import DocumentRecord, DocumentStatus
from app.dispatch import Dispatcher
from app.evaluation.calibration import Judged, calibration_summary
from app.evaluation.gold import docfuse_gold, sroie_gold
from app.evaluation.ocr_metrics import (
    GroundTruthLine,
    assign_words_to_lines,
    character_error_rate,
    load_sroie_lines,
    normalise,
    reading_order,
    word_recall,
)
from app.evaluation.qa import anls, exact_match, load_qa
from app.schemas import FieldOut
from app.services.analysis import job_results, submit_analysis
from app.services.ingest import submit_file
from app.services.pages import load_pages
from app.services.payloads import AnalysisRequest, IngestPayload
from pipeline.fields.normalize import comparable, same_value
from pipeline.fields.schemas import FieldSchema
from pipeline.grounding import ground
from pipeline.types import Box, Page

Progress = Callable[[int, int], None]
MIN_INSIDE = 0.5


@dataclass
class Tally:
    """Running counts for one field; `correct` sums each item's score (1 or 0 for a match,
    a similarity for ANLS)."""

    correct: float = 0
    total: int = 0
    grounded: int = 0
    groundable: int = 0

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "accuracy": _rate(self.correct, self.total),
            "grounding": _rate(self.grounded, self.groundable),
            "n": self.total,
        }


@dataclass
class Report:
    engine: str
    documents: int = 0
    pages: int = 0
    seconds: float = 0.0
    fields: dict[str, Tally] = field(default_factory=dict)
    cer_distance: float = 0.0
    cer_chars: int = 0
    recall_found: float = 0.0
    recall_words: int = 0
    failures: list[str] = field(default_factory=list)
    models: set[str] = field(default_factory=set)  # the revisions that answered
    judged: list[Judged] = field(default_factory=list)  # (confidence, right) per value

    def judge(self, tally: Tally, found: FieldOut, right: bool) -> None:
        """Count one scored field value, and keep its confidence for calibration."""
        tally.correct += right
        tally.total += 1
        self.judged.append((found.confidence or 0.0, right))

    def add_ocr(self, words: list, gt_lines: list[GroundTruthLine]) -> None:
        chars = sum(len(normalise(text)) for text, _ in gt_lines)
        tokens = sum(len(normalise(text).split()) for text, _ in gt_lines)
        if chars:
            self.cer_distance += character_error_rate(words, gt_lines) * chars
            self.cer_chars += chars
        if tokens:
            self.recall_found += word_recall(words, gt_lines) * tokens
            self.recall_words += tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "fields": {name: tally.as_dict() for name, tally in self.fields.items()},
            "ocr": {
                "cer": _rate(self.cer_distance, self.cer_chars),
                "word_recall": _rate(self.recall_found, self.recall_words),
            },
            "pages_per_s": round(self.pages / self.seconds, 3) if self.seconds else None,
            "engine": self.engine,
            "models": sorted(self.models),
            "calibration": calibration_summary(self.judged),
            "failures": self.failures,
        }


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


Scorer = Callable[[Path, int, list[Page], Report], None]


@dataclass(frozen=True)
class LabelledSet:
    """A labelled folder in one format: its documents, the fields scored, and the scorer."""

    files: list[Path]
    fields: list[str]
    score: Scorer


def evaluate(
    folder: Path,
    fmt: str,
    *,
    settings: Settings,
    choice: EngineChoice,
    progress: Progress | None = None,
    limit: int | None = None,
) -> Report:
    """Run the pipeline over `folder` (layout `fmt`) in a throwaway data dir and score it."""
    formats = {"sroie": _sroie, "icdar2013": _icdar, "qa": _qa, "docfuse": _docfuse}
    if fmt not in formats:
        raise ValueError(f"unknown format {fmt!r}; use one of {sorted(formats)}")
    with tempfile.TemporaryDirectory(prefix="docfuse-eval-") as scratch:
        private = Settings.model_validate(
            settings.model_dump()
            | {"data_dir": Path(scratch), "database_url": "", "broker_url": ""}
        )
        report = Report(engine=choice.name)
        run = _InProcess(private, choice, report)
        labelled = formats[fmt](folder, run)
        report.fields = {name: Tally() for name in labelled.fields}
        files = labelled.files[:limit]
        started = time.perf_counter()
        for done, path in enumerate(files, start=1):
            document = run.ingest(path, report)
            if document is not None:
                pages = load_pages(private, document)
                labelled.score(path, document.id, pages, report)
                report.pages += len(pages)
            report.documents += 1
            if progress:
                progress(done, len(files))
        report.seconds = time.perf_counter() - started
    return report


class _InProcess:
    """The pipeline run in this process on a private database, as `docfuse` runs it."""

    def __init__(self, settings: Settings, choice: EngineChoice, report: Report) -> None:
        self.settings = settings
        self.engine = choice.name
        self.report = report
        self.sessions = open_database(settings)
        self.dispatcher = Dispatcher(settings, self.sessions)

    def ingest(self, path: Path, report: Report) -> DocumentRecord | None:
        submission = submit_file(
            sessions=self.sessions,
            settings=self.settings,
            path=path,
            payload=IngestPayload(),
            source="eval",
        )
        self.dispatcher.send([submission.job_id])
        if submission.document_id is None:
            report.failures.append(f"{path.name}: {submission.reason}")
            return None
        with self.sessions() as session:
            document = session.get_one(DocumentRecord, submission.document_id)
            if document.status != DocumentStatus.READY:
                report.failures.append(f"{path.name}: {document.error}")
                return None
            document.pages  # noqa: B018 - load the pages before the session closes
            return document

    def extract(self, document_id: int, schema: FieldSchema) -> list[FieldOut]:
        request = AnalysisRequest(field_schema=schema, engine=self.engine)
        with self.sessions() as session:
            job = submit_analysis(session=session, document_id=document_id, request=request)
        self.dispatcher.send([job.id])
        with self.sessions() as session:
            fields = job_results(session=session, job_id=job.id).fields
        self.report.models.update(f.model_revision for f in fields)
        return fields

    def ask(self, document_id: int, question: str, page: int | None) -> str:
        """The engine's answer ("" for none) to one question about a document."""
        request = AnalysisRequest.of([question], page=page, engine=self.engine)
        with self.sessions() as session:
            job = submit_analysis(session=session, document_id=document_id, request=request)
        self.dispatcher.send([job.id])
        with self.sessions() as session:
            answers = job_results(session=session, job_id=job.id).answers
        self.report.models.update(a.model_revision for a in answers)
        return answers[0].answer if answers else ""


def _qa(folder: Path, run: _InProcess) -> LabelledSet:
    """Questions with accepted answers: ask each, score exact match and ANLS."""
    items = load_qa(folder)

    def score(path: Path, document_id: int, _pages: list[Page], report: Report) -> None:
        matched, similar = report.fields["exact_match"], report.fields["anls"]
        for item in items[path]:
            said = run.ask(document_id, item.question, item.page)
            matched.correct += exact_match(said, item.answers)
            similar.correct += anls(said, item.answers)
            matched.total += 1
            similar.total += 1

    return LabelledSet(list(items), ["exact_match", "anls"], score)


ALL_FIELDS = "all_fields"


def _docfuse(folder: Path, run: _InProcess) -> LabelledSet:
    """Documents with expected field values: extract the schema, score each field."""
    gold = docfuse_gold(folder)
    schema = gold.schema
    expected = {document.path: document.values for document in gold.documents}

    def score(path: Path, document_id: int, _pages: list[Page], report: Report) -> None:
        results = {r.name: r for r in run.extract(document_id, schema)}
        right = []
        for definition in schema.fields:
            value = expected[path].get(definition.name)
            if value is None:
                continue
            tally = report.fields[definition.name]
            found = results[definition.name]
            read = found.value or found.raw_text or ""  # stored, as exported
            right.append(same_value(definition.type, read, value))
            report.judge(tally, found, right[-1])
        report.fields[ALL_FIELDS].correct += all(right)
        report.fields[ALL_FIELDS].total += 1

    return LabelledSet(list(expected), [*(d.name for d in schema.fields), ALL_FIELDS], score)


def _sroie(folder: Path, run: _InProcess) -> LabelledSet:
    """Receipts: extract the `receipt` schema, score it against `keys/` and `boxes/`."""
    gold = sroie_gold(folder)
    expected = {document.path: document.values for document in gold.documents}

    def score(image: Path, document_id: int, pages: list[Page], report: Report) -> None:
        results = {r.name: r for r in run.extract(document_id, gold.schema)}
        _score_sroie(folder, image, expected[image], pages, results, gold.schema, report)

    return LabelledSet(list(expected), [d.name for d in gold.schema.fields], score)


def _score_sroie(
    folder: Path,
    image: Path,
    gold: dict[str, str],
    pages: list[Page],
    results: dict[str, FieldOut],
    schema: FieldSchema,
    report: Report,
) -> None:
    page = pages[0]
    gt_lines = load_sroie_lines(folder / "boxes" / f"{image.stem}.csv", page.width, page.height)
    report.add_ocr(page.words, gt_lines)
    for definition in schema.fields:
        expected = gold.get(definition.name)
        if expected is None:
            continue
        tally = report.fields[definition.name]
        found = results[definition.name]
        read = found.value or found.raw_text or ""
        report.judge(tally, found, same_value(definition.type, read, expected))
        holders = [box for text, box in gt_lines if _holds(text, expected)]
        if holders:
            tally.groundable += 1
            match = ground(expected, [page.words])
            tally.grounded += match is not None and all(
                any(_inside(box, holder) >= MIN_INSIDE for holder in holders) for box in match.boxes
            )


def _holds(line_text: str, value: str) -> bool:
    """A ground-truth line holds (part of) a value when one contains the other."""
    line, whole = comparable(line_text), comparable(value)
    return bool(line) and (whole in line or line in whole)


def _inside(box: Box, outer: Box) -> float:
    """Share of `box`'s area that lies inside `outer`."""
    if box.page != outer.page:
        return 0.0
    width = max(0.0, min(box.x1, outer.x1) - max(box.x0, outer.x0))
    height = max(0.0, min(box.y1, outer.y1) - max(box.y0, outer.y0))
    area = (box.x1 - box.x0) * (box.y1 - box.y0)
    return width * height / area if area > 0 else 0.0


def _icdar(folder: Path, _run: _InProcess) -> LabelledSet:
    """Born-digital tables: score the words and grounding of every labelled cell."""
    pdfs = sorted(folder.glob("*.pdf"))
    if not pdfs:
        raise ValueError(f"{folder}: no *.pdf, is this an ICDAR-2013-style folder?")
    return LabelledSet(pdfs, ["cell"], _score_icdar)


def _score_icdar(pdf: Path, _document_id: int, pages: list[Page], report: Report) -> None:
    cells = list(_icdar_cells(pdf))
    tally = report.fields["cell"]
    for page in pages:
        gt_lines = [(text, box) for text, box in cells if box.page == page.index]
        if not gt_lines:
            continue
        report.add_ocr(page.words, gt_lines)
        assigned = assign_words_to_lines(page.words, gt_lines)
        for (text, box), words in zip(gt_lines, assigned, strict=True):
            tally.total += 1
            read = " ".join(word.text for word in reading_order(words))
            tally.correct += comparable(read) == comparable(text)
            tally.groundable += 1
            match = ground(text, [page.words], near=box)
            tally.grounded += match is not None and all(
                _inside(b, box) >= MIN_INSIDE for b in match.boxes
            )


def _icdar_cells(pdf: Path) -> Iterator[GroundTruthLine]:
    """Cells of `<name>-str.xml` as normalised top-left boxes on 0-based pages."""
    structure = pdf.with_name(pdf.stem + "-str.xml")
    with pymupdf.open(pdf) as document:
        sizes = [(page.rect.width, page.rect.height) for page in document]
    for region in ET.parse(structure).iter("region"):
        index = int(region.get("page", "1")) - 1
        width, height = sizes[index]
        for cell in region.iter("cell"):
            bbox = cell.find("bounding-box")
            text = " ".join((cell.findtext("content") or "").split())
            if bbox is None or not text:
                continue
            x0, x1 = float(bbox.get("x1", 0)), float(bbox.get("x2", 0))
            y0, y1 = height - float(bbox.get("y2", 0)), height - float(bbox.get("y1", 0))
            yield text, Box.from_pixels(index, x0, y0, x1, y1, width, height)
