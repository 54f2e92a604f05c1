"""Words from a PDF page's text layer, and the rule that decides whether to trust it.

Born-digital pages carry exact text, so their words come from the PDF and need no OCR.
A scan usually carries no text, but some carry a little (a page-number stamp, a Bates
number, a header added after scanning); taking those few words as the page's text would
lose everything printed on the scan. The rule (`has_usable_text_layer`):

* at least `MIN_TEXT_CHARS` (32) letters/digits in the text layer: usable. This covers any
  page with real running text, including scans that already carry an OCR text layer;
* otherwise, usable only if there is some text and no image covers a quarter of the page or
  more (a short born-digital page such as a title or a chart with labels; a quarter, not
  half, because a photographed receipt placed on a page often covers less than half);
* otherwise (no text, or a little text over a page-sized image): not usable, OCR the page.

Characters that did not map to Unicode (U+FFFD, from fonts without a ToUnicode table) do not
count, so a page whose text layer is garbage is OCR'd too.
"""

from __future__ import annotations

import logging

import pymupdf

from pipeline.types import Box, Word

logger = logging.getLogger(__name__)

MIN_TEXT_CHARS = 32
SCAN_IMAGE_COVERAGE = 0.25


def extract_words(page: pymupdf.Page, index: int) -> list[Word]:
    """The page's text-layer words, boxes normalised to the rendered (rotated) page.

    PyMuPDF reports word rectangles in the unrotated page's coordinates (relative to the
    crop box); `rotation_matrix` maps them onto the page as rendered.
    """
    to_rendered = page.rotation_matrix
    width, height = page.rect.width, page.rect.height
    words = []
    for x0, y0, x1, y1, text, *_ in page.get_text("words", sort=True):
        if not text.strip():
            continue
        rect = pymupdf.Rect(x0, y0, x1, y1) * to_rendered
        box = Box.from_pixels(index, rect.x0, rect.y0, rect.x1, rect.y1, width, height)
        words.append(Word(text=text, box=box))
    return words


def has_usable_text_layer(words: list[Word], image_coverage: float) -> bool:
    """Apply the module's rule: trust the text layer, or OCR the page instead."""
    chars = sum(_meaningful_chars(word.text) for word in words)
    if chars >= MIN_TEXT_CHARS:
        return True
    return chars > 0 and image_coverage < SCAN_IMAGE_COVERAGE


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
