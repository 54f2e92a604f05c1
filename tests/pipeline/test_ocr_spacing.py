"""Spaces between OCR'd words come from the page's ink: a blank the recogniser read through
is a space when it is as wide as a printed one, and typography vetoes a few."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.evaluation.ocr_metrics import load_sroie_lines
from pipeline.ocr_spacing import _straightened, _widest_blank, respace
from pipeline.pages import open_document

TOP, BOTTOM = 10, 40  # the line box's rows: 30 pixels tall, so a space is 9 blank columns
TIGHT, WIDE = 3, 12  # blank columns between two glyphs


def _page(text: str, gaps: list[int], glyph: int = 10) -> tuple[np.ndarray, list, list]:
    """A white RGB page with one black bar per character of `text` (spaces excepted), the
    given blank before each bar after the first; the characters' and the line's polygons."""
    page = np.full((60, 400, 3), 255, dtype=np.uint8)
    chars, x = [], 20
    for k in range(len(text.replace(" ", ""))):
        x += gaps[k - 1] if k else 0
        page[TOP + 5 : BOTTOM - 5, x : x + glyph] = 0
        chars.append([[x, TOP], [x + glyph, TOP], [x + glyph, BOTTOM], [x, BOTTOM]])
        x += glyph
    line = [[15, TOP], [x + 5, TOP], [x + 5, BOTTOM], [15, BOTTOM]]
    return page, chars, line


def test_a_printed_space_the_recogniser_dropped_is_put_back() -> None:
    page, chars, line = _page("TEL:03", [TIGHT, TIGHT, WIDE, WIDE, TIGHT])
    assert respace(page, "TEL:03", chars, line) == "TEL : 03"


def test_gaps_between_letters_are_no_spaces() -> None:
    page, chars, line = _page("TOTAL", [TIGHT, TIGHT, 8, TIGHT])  # 8 < 0.3 x 30
    assert respace(page, "TOTAL", chars, line) == "TOTAL"


def test_the_recognisers_own_spaces_are_kept() -> None:
    page, chars, line = _page("RM 9.00", [TIGHT] * 5)
    assert respace(page, "RM 9.00", chars, line) == "RM 9.00"


@pytest.mark.parametrize(
    ("text", "gaps", "expected"),
    [
        ("9.60", [WIDE, WIDE, TIGHT], "9.60"),  # a monospaced decimal point
        ("TOTAL.", [TIGHT, TIGHT, TIGHT, TIGHT, WIDE], "TOTAL."),
        ("1,200", [WIDE, WIDE, TIGHT, TIGHT], "1,200"),
        ("Rd.Kepong", [TIGHT, TIGHT, WIDE, TIGHT, TIGHT, TIGHT, TIGHT, TIGHT], "Rd. Kepong"),
        ("5.00SR", [TIGHT, TIGHT, TIGHT, WIDE, TIGHT], "5.00 SR"),
        ("A.5", [TIGHT, WIDE], "A. 5"),  # a separator after a letter may be followed by one
        (".5", [WIDE], ". 5"),
    ],
)
def test_no_space_before_a_separator_nor_inside_a_number(
    text: str, gaps: list[int], expected: str
) -> None:
    page, chars, line = _page(text, gaps)
    assert respace(page, text, chars, line) == expected


def test_lines_it_cannot_judge_keep_the_recognisers_text() -> None:
    page, chars, line = _page("AB", [WIDE])
    assert respace(page, "AB", chars, line) == "A B"  # the line it can judge
    assert respace(page, " AB", chars, line) == "A B"  # a leading space read
    assert respace(page, "A", chars[:1], line) == "A"
    assert respace(page, "AB", chars[:1], line) == "AB"  # one box for two characters
    assert respace(page, "谢谢", chars, line) == "谢谢"  # a script without spaces
    (first, second), third = chars, [[x + 40, y] for x, y in chars[1]]
    assert respace(page, "ABC", [first, third, second], line) == "ABC"  # out of reading order
    stacked = [[[20, 10], [30, 10], [30, 20], [20, 20]], [[20, 30], [30, 30], [30, 40], [20, 40]]]
    assert respace(page, "AB", stacked, [[18, 5], [32, 5], [32, 45], [18, 45]]) == "AB"
    flat = [[15, TOP], [60, TOP], [60, TOP], [15, TOP]]
    assert respace(page, "AB", chars, flat) == "AB"
    assert _straightened(page, flat) is None  # OpenCV would read a 0-row size as the page's
    faint = np.where(page == 0, 190, 200).astype(np.uint8)  # ink too faint to tell from paper
    assert respace(faint, "AB", chars, line) == "AB"


@pytest.mark.parametrize(("gap", "expected"), [(WIDE, "A B"), (TIGHT, "AB")])
def test_a_skewed_line_is_measured_along_its_slope(gap: int, expected: str) -> None:
    page, chars, line = _page("AB", [gap])
    turn = cv2.getRotationMatrix2D((40, 25), 5, 1.0)  # 5 degrees about the line's middle
    turned = cv2.warpAffine(page, turn, page.shape[1::-1], borderValue=(255, 255, 255))

    def moved(polygon: list) -> list:
        return [list(turn @ [x, y, 1]) for x, y in polygon]

    assert respace(turned, "AB", [moved(p) for p in chars], moved(line)) == expected


def test_a_box_reaching_past_the_page_edge_is_measured_from_the_edge() -> None:
    page, chars, line = _page("AB", [WIDE])
    shifted = page[:, 18:]  # the box starts 3 columns left of the page
    moved = [[[x - 18, y] for x, y in polygon] for polygon in chars]
    beyond = [[x - 18, y] for x, y in line]
    assert respace(shifted, "AB", moved, beyond) == "A B"
    assert respace(shifted, "AB", moved[:1] + [[[5, 0]] * 4], beyond) == "AB"


def test_the_widest_blank_counts_a_run_at_either_end_of_its_window() -> None:
    columns = np.array([False, False, True, False, True, False, False, False])
    assert _widest_blank(columns, 0, 4) == 2
    assert _widest_blank(columns, 2, 8) == 3
    assert _widest_blank(columns, 2, 3) == 0
    assert _widest_blank(columns, 5, 5) == 0
    assert _widest_blank(columns, -3, 2) == 2  # a centre left of the box: from its edge


def test_only_the_middle_rows_of_the_box_count_as_its_ink() -> None:
    page, chars, line = _page("AB", [WIDE])
    page[TOP : TOP + 3, :] = 0  # the descenders of the line above, inside the box
    assert respace(page, "AB", chars, line) == "A B"


def test_a_real_receipt_keeps_the_spaces_around_its_colons(shared_data: Path) -> None:
    """SROIE receipt 120 prints "TEL : 03-40210276"; the recogniser reads "TEL:03-40210276"."""
    root = shared_data / "sroie-dev"
    with (root / "manifest.tsv").open(newline="") as manifest:
        row = next(r for r in csv.DictReader(manifest, delimiter="\t") if r["id"] == "120")
    with open_document((root / row["image"]).read_bytes()) as document:
        (page,) = document.pages()
    truth = load_sroie_lines(root / row["box_csv"], page.width, page.height)
    assert truth[5][0] == "TEL : 03-40210276"
    texts = [word.text for word in page.words]
    start = texts.index("TEL")
    assert texts[start : start + 3] == ["TEL", ":", "03-40210276"], texts[start - 2 : start + 5]
