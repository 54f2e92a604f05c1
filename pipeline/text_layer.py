"""Words from a PDF page's text layer, and the rule that decides whether to trust it.

Born-digital pages carry exact text, so their words come from the PDF and need no OCR.
A scan usually carries no text, but some carry a little (a page-number stamp, a Bates
number, a header added after scanning); taking those few words as the page's text would
lose everything printed on the scan. And a text layer can lie: a font without a Unicode
map yields `ÖàãçÖ§ñ àò°éñè` where the page shows `INVOICE NUMBER`. The rule
(`judge_text_layer`):

* at least `MIN_TEXT_CHARS` (32) letters/digits: judged by what it reads as
  (`pipeline.text_quality.reading_score`, the share of text shaped like words, numbers and
  ids): `TRUSTED_READING` (0.8) or more, use it; under `GARBAGE_READING` (0.5), OCR the
  page; in between, CHECK it against OCR of a strip of the page (`pipeline.pages`). Real
  text layers, tables of numbers and ids included, read at 0.99 and above;
* fewer: usable only if there is some text and no image covers a quarter of the page or
  more (a short born-digital page such as a title or a chart with labels; a quarter, not
  half, because a photographed receipt placed on a page often covers less than half);
* otherwise (no text, or a little text over a page-sized image): not usable, OCR the page.

Characters that did not map to Unicode at all (U+FFFD) do not count as text.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import pymupdf

from pipeline.text_quality import reading_score
from pipeline.types import Box, Word

logger = logging.getLogger(__name__)

MIN_TEXT_CHARS = 32
SCAN_IMAGE_COVERAGE = 0.25
TRUSTED_READING = 0.8
GARBAGE_READING = 0.5
LINE_TOLERANCE = 3  # points, as PyMuPDF's sort=True
IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def extract_words(page: pymupdf.Page, index: int) -> list[Word]:
    """The page's text-layer words in reading order, boxes normalised to the rendered
    (rotated) page.

    PyMuPDF reports word rectangles in the unrotated page's coordinates (relative to the
    crop box); `rotation_matrix` maps them onto the page as rendered. The order is PyMuPDF's
    `sort=True` order (lines top to bottom, forgiving `LINE_TOLERANCE` points, words left to
    right), computed here on plain floats: PyMuPDF's own sort builds a Rect per word and
    cost more than reading the words.
    """
    rotation = page.rotation_matrix
    matrix = (rotation.a, rotation.b, rotation.c, rotation.d, rotation.e, rotation.f)
    width, height = page.rect.width, page.rect.height
    words = []
    for x0, y0, x1, y1, text, *_ in _reading_order(page.get_text("words")):
        if not text.strip():
            continue
        if matrix != IDENTITY:
            x0, y0, x1, y1 = _transform(matrix, x0, y0, x1, y1)
        words.append(Word(text, Box.from_pixels(index, x0, y0, x1, y1, width, height)))
    return words


def _transform(
    matrix: tuple[float, ...], x0: float, y0: float, x1: float, y1: float
) -> tuple[float, float, float, float]:
    """The bounding box of a rectangle mapped by an affine matrix (a, b, c, d, e, f)."""
    a, b, c, d, e, f = matrix
    xs = (a * x0 + c * y0 + e, a * x1 + c * y1 + e, a * x0 + c * y1 + e, a * x1 + c * y0 + e)
    ys = (b * x0 + d * y0 + f, b * x1 + d * y1 + f, b * x0 + d * y1 + f, b * x1 + d * y0 + f)
    return min(xs), min(ys), max(xs), max(ys)


def _reading_order(words: list[tuple]) -> list[tuple]:
    """Words sorted line-wise: by bottom then left, a word joining the current line when its
    top or bottom is within LINE_TOLERANCE of the line's extent, each line left to right."""
    if not words:
        return words
    words = sorted(words, key=lambda w: (w[3], w[0]))
    ordered: list[tuple] = []
    line = [words[0]]
    top, bottom = words[0][1], words[0][3]
    for word in words[1:]:
        if abs(word[1] - top) <= LINE_TOLERANCE or abs(word[3] - bottom) <= LINE_TOLERANCE:
            line.append(word)
            top, bottom = min(top, word[1]), max(bottom, word[3])
        else:
            ordered.extend(sorted(line, key=lambda w: w[0]))
            line, top, bottom = [word], word[1], word[3]
    ordered.extend(sorted(line, key=lambda w: w[0]))
    return ordered


class Verdict(StrEnum):
    """What to do with a page's text layer."""

    USE = "use"
    OCR = "ocr"
    CHECK = "check"  # doubtful: compare it with OCR of part of the page


def judge_text_layer(words: list[Word], image_coverage: float) -> Verdict:
    """Apply the module's rule."""
    if has_enough_text(words):
        reading = reading_score(words)
        if reading >= TRUSTED_READING:
            return Verdict.USE
        return Verdict.OCR if reading < GARBAGE_READING else Verdict.CHECK
    some = any(_meaningful_chars(word.text) for word in words)
    return Verdict.USE if some and image_coverage < SCAN_IMAGE_COVERAGE else Verdict.OCR


def has_enough_text(words: list[Word]) -> bool:
    """Enough text to trust the layer whatever images the page holds (the first rule)."""
    chars = 0
    for word in words:  # a page holds hundreds of words: stop as soon as it is enough
        chars += _meaningful_chars(word.text)
        if chars >= MIN_TEXT_CHARS:
            return True
    return False


def largest_image_coverage(page: pymupdf.Page) -> float:
    """Fraction of the page area covered by its largest image (0 when it has none).

    Image boxes come in unrotated coordinates, like words; map them before clipping.
    """
    page_area = page.rect.width * page.rect.height
    if not page_area:
        return 0.0
    largest = 0.0
    for info in page.get_image_info():
        shown = (pymupdf.Rect(info["bbox"]) * page.rotation_matrix) & page.rect
        largest = max(largest, shown.width * shown.height if shown.is_valid else 0.0)
    return min(1.0, largest / page_area)


def _meaningful_chars(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum() and ch != "\ufffd")
