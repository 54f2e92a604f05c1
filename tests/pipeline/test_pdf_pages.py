"""PDF pages: rendering, text-layer words and their boxes, and the text-layer-or-OCR rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pymupdf
import pytest

from pipeline.pages import PageOptions, open_document, render_pdf_page
from pipeline.text_layer import Verdict, judge_text_layer
from pipeline.types import Box, Page, TextSource, Word
from tests import badfiles

DEFAULTS = PageOptions()


def only_page(path: Path, options: PageOptions = DEFAULTS) -> Page:
    """The document's one page, its image rendered while the document is open."""
    with open_document(path.read_bytes(), options) as document:
        pages = list(document.pages())
        assert len(pages) == 1
        pages[0].image  # noqa: B018 - text-layer pages render on first use
    return pages[0]


def test_text_layer_pages_are_rendered_only_on_demand(tmp_path: Path) -> None:
    data = badfiles.make_born_digital_pdf(tmp_path).read_bytes()
    with open_document(data, DEFAULTS) as document:
        (page,) = document.pages()
        assert page._image is None and (page.width, page.height) == (1240, 1755)
    with pytest.raises(ValueError, match="page 1: its image was asked for after"):
        page.image  # noqa: B018
    assert render_pdf_page(data, 0, 150).size == (page.width, page.height)


def test_born_digital_page_takes_words_from_the_text_layer(tmp_path: Path) -> None:
    page = only_page(badfiles.make_born_digital_pdf(tmp_path))
    assert page.text_source is TextSource.PDF
    assert page.dpi == 150
    assert page.image.mode == "RGB" and page.image.size == (1240, 1755)  # A4 at 150 DPI
    assert " ".join(w.text for w in page.words) == " ".join(badfiles.BORN_DIGITAL_LINES)
    assert all(w.confidence is None and w.box.page == 0 for w in page.words)


def test_render_dpi_sets_the_image_size(tmp_path: Path) -> None:
    page = only_page(badfiles.make_born_digital_pdf(tmp_path), PageOptions(dpi=72))
    assert (page.dpi, page.image.size) == (72, (595, 842))


def ink_outside_word_boxes(page: Page, margin_px: int = 2) -> tuple[int, int]:
    """(dark pixels outside every word box, word boxes containing no dark pixel)."""
    ink = np.asarray(page.image).min(axis=2) < 128
    inside = np.zeros_like(ink)
    empty_boxes = 0
    for word in page.words:
        x0, y0, x1, y1 = (round(v) for v in word.box.to_pixels(page.width, page.height))
        x0, y0 = max(0, x0 - margin_px), max(0, y0 - margin_px)
        if not ink[y0 : y1 + margin_px, x0 : x1 + margin_px].any():
            empty_boxes += 1
        inside[y0 : y1 + margin_px, x0 : x1 + margin_px] = True
    return int((ink & ~inside).sum()), empty_boxes


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_word_boxes_match_the_rendered_rotated_page(tmp_path: Path, rotation: int) -> None:
    page = only_page(badfiles.make_rotated_pdf(tmp_path, rotation))
    portrait = rotation in (0, 180)
    assert (page.width < page.height) is portrait
    assert len(page.words) == sum(len(line.split()) for line in badfiles.BORN_DIGITAL_LINES)
    assert ink_outside_word_boxes(page) == (0, 0)


def test_word_box_check_detects_misplaced_boxes(tmp_path: Path) -> None:
    """The ink check above fails when boxes ignore the rotation (unrotated coordinates)."""
    path = badfiles.make_rotated_pdf(tmp_path, 90)
    page = only_page(path)
    pdf_page = pymupdf.open(path)[0]
    width, height = pdf_page.cropbox.width, pdf_page.cropbox.height
    unrotated = [
        Word(text, Box.from_pixels(0, x0, y0, x1, y1, width, height))
        for x0, y0, x1, y1, text, *_ in pdf_page.get_text("words")
    ]
    stray, empty = ink_outside_word_boxes(
        Page.from_image(0, page.image, 150, TextSource.PDF, unrotated)
    )
    assert stray > 1000 and empty == len(unrotated)


@pytest.mark.parametrize("stamp", [True, False])
def test_scanned_page_is_ocrd_even_with_a_page_number_stamp(tmp_path: Path, stamp: bool) -> None:
    page = only_page(badfiles.make_scanned_pdf(tmp_path, page_number_stamp=stamp))
    assert page.text_source is TextSource.OCR
    text = " ".join(w.text for w in page.words)
    for line in badfiles.SCANNED_LINES:
        assert line in text
    assert all(w.confidence is not None and 0.5 <= w.confidence <= 1 for w in page.words)


def test_scanned_page_without_ocr_has_no_words_and_says_ocr(tmp_path: Path) -> None:
    page = only_page(badfiles.make_scanned_pdf(tmp_path), PageOptions(ocr=False))
    assert page.text_source is TextSource.OCR
    assert page.words == []
    assert page.image.size == (1240, 1755)


def test_pages_are_produced_lazily_in_order(tmp_path: Path) -> None:
    path = badfiles.make_oversized_page_pdf(tmp_path)  # 2 pages: A4, then 200 x 200 inches
    with open_document(path.read_bytes(), PageOptions(dpi=10)) as document:
        pages = document.pages()
        first = next(pages)
        assert document.page_count == 2 and first.index == 0
        assert next(pages).image.size == (2000, 2000)


def words(*texts: str) -> list[Word]:
    return [Word(text, Box(0, 0.1, 0.1, 0.2, 0.2)) for text in texts]


@pytest.mark.parametrize(
    ("texts", "image_coverage", "usable"),
    [
        (("The quick brown fox jumps over the lazy dog",), 1.0, True),  # OCR layer on a scan
        (("Page", "3"), 0.9, False),  # page-number stamp on a scan
        (("Annex", "B"), 0.0, True),  # short born-digital page
        ((), 0.0, False),  # nothing: OCR finds what vector art may hold
        (("\ufffd" * 50,), 0.0, False),  # text without a Unicode mapping
    ],
)
def test_text_layer_rule(texts: tuple[str, ...], image_coverage: float, usable: bool) -> None:
    expected = Verdict.USE if usable else Verdict.OCR
    assert judge_text_layer(words(*texts), image_coverage) is expected
