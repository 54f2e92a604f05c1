"""The OCR scores: box assignment, reading order, normalisation, and the SROIE loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.evaluation.ocr_metrics import (
    character_error_rate,
    load_sroie_lines,
    reading_order,
    word_recall,
)
from pipeline.types import Box, Word

LINE_1 = ("Total Amount", Box(0, 0.1, 0.1, 0.9, 0.2))
LINE_2 = ("12.50", Box(0, 0.1, 0.3, 0.9, 0.4))


def word(text: str, x0: float, y0: float, x1: float, y1: float, page: int = 0) -> Word:
    return Word(text, Box(page, x0, y0, x1, y1), 0.9)


PERFECT = [
    word("AMOUNT", 0.5, 0.11, 0.7, 0.19),  # out of order on purpose
    word("total", 0.1, 0.12, 0.3, 0.18),
    word("12.50", 0.1, 0.31, 0.3, 0.39),
]


def test_perfect_ocr_scores_zero_ignoring_case_and_order() -> None:
    assert character_error_rate(PERFECT, [LINE_1, LINE_2]) == 0.0
    assert word_recall(PERFECT, [LINE_1, LINE_2]) == 1.0


def test_one_wrong_character_counts_once_over_all_characters() -> None:
    words = [*PERFECT[:2], word("12.5O", 0.1, 0.31, 0.3, 0.39)]
    assert character_error_rate(words, [LINE_1, LINE_2]) == pytest.approx(1 / 17)
    assert word_recall(words, [LINE_1, LINE_2]) == pytest.approx(2 / 3)


def test_words_outside_a_line_box_do_not_count_for_it() -> None:
    moved = [*PERFECT[:2], word("12.50", 0.1, 0.6, 0.3, 0.7)]
    assert character_error_rate(moved, [LINE_1, LINE_2]) == pytest.approx(5 / 17)
    other_page = [*PERFECT[:2], word("12.50", 0.1, 0.31, 0.3, 0.39, page=1)]
    assert character_error_rate(other_page, [LINE_1, LINE_2]) == pytest.approx(5 / 17)


def test_a_word_in_overlapping_boxes_counts_for_the_smallest_only() -> None:
    big = ("12.50 total amount", Box(0, 0.0, 0.0, 1.0, 1.0))
    # "total" and "AMOUNT" go to LINE_1 only, so the big line reads just "12.50".
    missing = len(" total amount")
    assert character_error_rate(PERFECT, [LINE_1, big]) == pytest.approx(missing / (12 + 18))


def test_reading_order_is_rows_top_to_bottom_then_left_to_right() -> None:
    words = [
        word("d", 0.5, 0.52, 0.6, 0.58),
        word("b", 0.5, 0.1, 0.6, 0.2),
        word("c", 0.1, 0.5, 0.2, 0.6),
        word("a", 0.1, 0.11, 0.2, 0.19),
    ]
    assert [w.text for w in reading_order(words)] == ["a", "b", "c", "d"]


def test_empty_ground_truth_is_an_error() -> None:
    with pytest.raises(ValueError):
        character_error_rate(PERFECT, [])
    with pytest.raises(ValueError):
        word_recall(PERFECT, [(" ", LINE_1[1])])


def test_load_sroie_lines_keeps_commas_and_normalises_boxes(tmp_path: Path) -> None:
    path = tmp_path / "000.csv"
    path.write_bytes(
        b"\xef\xbb\xbf10,20,110,20,110,40,10,40,NO.53 55,57 & 59, JALAN\r\n"
        b"\r\n"
        b"0,50,200,52,198,100,2,98,TOTAL\r\n"
    )
    lines = load_sroie_lines(path, width=200, height=100, page=3)
    assert lines == [
        ("NO.53 55,57 & 59, JALAN", Box(3, 0.05, 0.2, 0.55, 0.4)),
        ("TOTAL", Box(3, 0.0, 0.5, 1.0, 1.0)),
    ]
