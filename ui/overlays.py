"""What the viewer draws on a page: words, answers, fields and corrections as boxes, from
the document's export (the same boxes the JSON export carries)."""

from __future__ import annotations

from app.db.keys import answer_target, field_target
from app.schemas import AnswerOut, BoxOut, ExportDocument, FieldOut
from ui.viewer import Overlay

LAYERS = ("words", "answers", "fields", "corrections")


def current_answers(document: ExportDocument) -> list[AnswerOut]:
    """The latest answer to each question (a question may have several: engines, pages)."""
    latest = {answer.question: answer for answer in document.answers}
    return list(reversed(list(latest.values())))


def current_fields(document: ExportDocument, schema_name: str) -> list[FieldOut]:
    """The latest value of each field of one schema."""
    latest = {f.name: f for f in document.fields if f.schema_name == schema_name}
    return list(latest.values())


def schemas_of(document: ExportDocument) -> list[str]:
    return sorted({field.schema_name for field in document.fields})


def page_overlays(
    document: ExportDocument, index: int, layers: set[str], selected: str | None
) -> list[Overlay]:
    """The boxes of page `index` for the chosen layers, the same box of one kind drawn once
    for all its targets, largest first (so smaller ones lie on top); `selected` marks one
    target."""
    overlays: list[Overlay] = []
    if "words" in layers:
        words = document.pages[index].words or []
        overlays += [Overlay("word", (f"word:{n}",), w.text, w.box) for n, w in enumerate(words)]
    if "answers" in layers:
        for answer in current_answers(document):
            target = answer_target(answer.question)
            overlays += _boxes("answer", target, answer.answer, answer.boxes, index, selected)
    for schema_name in schemas_of(document):
        for field in current_fields(document, schema_name):
            target = field_target(schema_name, field.name)
            label = f"{field.name}: {field.raw_text or ''}"
            if "fields" in layers:
                overlays += _boxes("field", target, label, field.boxes, index, selected)
            if "corrections" in layers:
                for correction in field.corrections:
                    text = f"{field.name} ({correction.kind}): {correction.raw_text or ''}"
                    overlays += _boxes("correction", target, text, correction.boxes, index, None)
    return sorted(_merged(overlays), key=_area, reverse=True)


def _merged(overlays: list[Overlay]) -> list[Overlay]:
    """One overlay per (kind, box), naming every target found there."""
    merged: dict[tuple[str, tuple[float, ...]], Overlay] = {}
    for overlay in overlays:
        key = (overlay.kind, overlay.box)
        seen = merged.get(key)
        merged[key] = (
            overlay
            if seen is None
            else Overlay(
                overlay.kind,
                seen.targets + tuple(t for t in overlay.targets if t not in seen.targets),
                f"{seen.label}\n{overlay.label}",
                overlay.box,
                seen.selected or overlay.selected,
            )
        )
    return list(merged.values())


def _area(overlay: Overlay) -> float:
    x0, y0, x1, y1 = overlay.box
    return (x1 - x0) * (y1 - y0)


def _boxes(
    kind: str, target: str, label: str, boxes: list[BoxOut], index: int, selected: str | None
) -> list[Overlay]:
    return [
        Overlay(kind, (target,), label, box.box, selected == target)
        for box in boxes
        if box.page == index
    ]
