"""OCR of page images with RapidOCR (PP-OCR detection + recognition on onnxruntime).

RapidOCR runs offline (its models ship in the wheel) and on CPU, which a worker on the
"ingest" queue needs. Building the engine loads three ONNX models, so it is built once per
process, lazily, and reused. Words come from RapidOCR's word-level boxes; a line whose word
boxes are missing or do not match its text is kept as one `Word` with the line's box.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from pipeline.types import Box, Word

logger = logging.getLogger(__name__)

MIN_TEXT_PIXELS = 16  # no legible line of text fits in fewer pixels
MIN_INK_CONTRAST = 48  # grey levels between the darkest and the lightest pixel


@lru_cache(maxsize=1)
def ocr_engine() -> Any:
    """The process-wide RapidOCR engine, built on first use."""
    from rapidocr import RapidOCR  # imported here: it pulls in cv2 and onnxruntime

    logger.info("building the OCR engine: RapidOCR (PP-OCR det + rec, onnxruntime, CPU)")
    return RapidOCR(params={"Global.log_level": "warning"})


def has_ink(image: Image.Image) -> bool:
    """Whether OCR could find anything: not on an image too small to hold a line of text,
    nor on one of a single tone (a blank page, a flat colour). OCR of such a page costs as
    much as of a full one: RapidOCR scales small images up to its working size."""
    if min(image.size) < MIN_TEXT_PIXELS:
        return False
    grey = np.asarray(image.convert("L"))
    return int(grey.max()) - int(grey.min()) >= MIN_INK_CONTRAST


def ocr_image(image: Image.Image, page_index: int) -> list[Word]:
    """Recognise the words on an RGB page image; boxes normalised to the image."""
    result = ocr_engine()(image, return_word_box=True)
    if not result.txts:
        return []
    words: list[Word] = []
    for line_index, text in enumerate(result.txts):
        line = _Line(text, float(result.scores[line_index]), result.boxes[line_index])
        parts = _word_parts(result.word_results, line_index)
        words.extend(line.words(parts, page_index, image.width, image.height))
    return words


class _Line:
    """One recognised text line: its text, confidence and 4-point polygon in pixels."""

    def __init__(self, text: str, score: float, polygon: Sequence[Sequence[float]]):
        self.text = text
        self.score = score
        self.polygon = polygon

    def words(self, parts: list[tuple], page: int, width: int, height: int) -> list[Word]:
        """Split into words when the word boxes spell the line, else keep the whole line."""
        if parts and _parts_spell(parts, self.text):
            return [
                Word(text, _polygon_box(poly, page, width, height), float(score))
                for text, score, poly in _regroup(parts, self.text)
                if text.strip()
            ]
        if not self.text.strip():
            return []
        return [
            Word(self.text.strip(), _polygon_box(self.polygon, page, width, height), self.score)
        ]


def _word_parts(word_results: Any, line_index: int) -> list[tuple]:
    """The (text, score, polygon) word entries of one line, or [] when unavailable."""
    try:
        parts = list(word_results[line_index])
    except (IndexError, TypeError):
        return []
    if any(len(part) != 3 or part[2] is None for part in parts):
        return []
    return parts


def _parts_spell(parts: list[tuple], line_text: str) -> bool:
    """Word entries are trusted only if, joined, they give the line's text back."""
    joined = "".join(str(text) for text, _, _ in parts)
    return joined.replace(" ", "") == line_text.replace(" ", "")


def _regroup(parts: list[tuple], line_text: str) -> list[tuple]:
    """Merge character-level parts back into the line's space-separated words.

    RapidOCR returns one part per character for lines it reads as CJK (any fullwidth
    character, such as the "：" in "DATE：14/10/2026", triggers it); words, not letters,
    are what grounding and extraction need. Parts already at word level pass unchanged.
    """
    grouped: list[tuple] = []
    pending: list[tuple] = []
    tokens = iter(line_text.split())
    token = next(tokens, "")
    for part in parts:
        pending.append(part)
        joined = "".join(str(text) for text, _, _ in pending)
        if joined == token:
            grouped.append(_merge(pending))
            pending, token = [], next(tokens, "")
        elif not token.startswith(joined):
            return parts  # parts cross word boundaries: keep RapidOCR's split
    return grouped if not pending else parts


def _merge(parts: list[tuple]) -> tuple:
    """One (text, score, polygon) from consecutive parts: their text, lowest score, hull."""
    if len(parts) == 1:
        return parts[0]
    points = np.concatenate(
        [np.asarray(poly, dtype=np.float64).reshape(-1, 2) for *_, poly in parts]
    )
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    hull = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    return "".join(str(text) for text, _, _ in parts), min(float(s) for _, s, _ in parts), hull


def _polygon_box(polygon: Sequence[Sequence[float]], page: int, width: int, height: int) -> Box:
    points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return Box.from_pixels(page, x0, y0, x1, y1, width, height)
