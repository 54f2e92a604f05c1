"""Text-layer words on real born-digital PDFs spell the table cells annotated in ICDAR 2013.

Each annotated cell box (PDF points, origin bottom-left) is converted to a normalised
top-left `Box`; the words whose centre lies in it, in reading order, must spell the cell's
content. This checks text extraction and box geometry together on real documents.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pymupdf
from rapidfuzz import fuzz

from app.evaluation.ocr_metrics import GroundTruthLine, assign_words_to_lines, reading_order
from pipeline.pages import open_document
from pipeline.types import Box, TextSource

MIN_RATIO = 90  # rapidfuzz ratio (0..100) for a cell to count as spelled
MAX_MISSED_CELLS = 0.02  # 0 of 1803 cells miss on the dev set; leave room for odd layouts


def load_cells(pdf_path: Path) -> list[GroundTruthLine]:
    """Every `<cell>` of the `-str.xml` next to `pdf_path` as (content, normalised box)."""
    pdf = pymupdf.open(pdf_path)
    cells = []
    for region in ET.parse(pdf_path.with_name(f"{pdf_path.stem}-str.xml")).iter("region"):
        page_index = int(region.get("page")) - 1
        width, height = pdf[page_index].rect.width, pdf[page_index].rect.height
        for cell in region.iter("cell"):
            bb = cell.find("bounding-box")
            x1, x2, y1, y2 = (float(bb.get(key)) for key in ("x1", "x2", "y1", "y2"))
            box = Box.from_pixels(page_index, x1, height - y2, x2, height - y1, width, height)
            cells.append((cell.findtext("content") or "", box))
    return cells


def missed_cells(pdf_path: Path) -> tuple[int, list[str]]:
    """(number of cells, descriptions of cells whose words do not spell their content)."""
    with open_document(pdf_path.read_bytes()) as document:
        pages = list(document.pages())
    assert all(page.text_source is TextSource.PDF for page in pages)
    words = [word for page in pages for word in page.words]
    cells = load_cells(pdf_path)
    missed = []
    for (content, box), inside in zip(cells, assign_words_to_lines(words, cells), strict=True):
        expected = " ".join(content.split())
        found = " ".join(word.text for word in reading_order(inside))
        if fuzz.ratio(found, expected) < MIN_RATIO:
            missed.append(f"{pdf_path.name} page {box.page + 1}: {expected!r} read as {found!r}")
    return len(cells), missed


def test_text_layer_words_spell_the_table_cells(shared_data: Path) -> None:
    pdfs = sorted((shared_data / "icdar2013-dev").glob("*.pdf"))
    assert len(pdfs) == 10
    total, missed = 0, []
    for pdf_path in pdfs:
        cells, misses = missed_cells(pdf_path)
        total += cells
        missed += misses
    assert total > 1000
    assert len(missed) / total <= MAX_MISSED_CELLS, "\n".join(missed[:20])


def test_cell_check_catches_boxes_flipped_to_the_wrong_origin(shared_data: Path) -> None:
    """The geometry matters: reading the cells with a bottom-left origin must fail."""
    pdf_path = shared_data / "icdar2013-dev" / "eu-001.pdf"
    with open_document(pdf_path.read_bytes()) as document:
        words = [word for page in document.pages() for word in page.words]
    flipped = [
        (text, Box(box.page, box.x0, 1 - box.y1, box.x1, 1 - box.y0))
        for text, box in load_cells(pdf_path)
    ]
    spelled = sum(
        fuzz.ratio(" ".join(w.text for w in reading_order(inside)), " ".join(text.split()))
        >= MIN_RATIO
        for (text, _), inside in zip(flipped, assign_words_to_lines(words, flipped), strict=True)
    )
    assert spelled / len(flipped) < 0.1
