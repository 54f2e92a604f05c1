"""OCR words are words: character-level parts from RapidOCR are merged back."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.samples import write_samples
from pipeline.ocr import _regroup, ocr_image


def _part(text: str, x: float, score: float = 0.9) -> tuple:
    return text, score, [[x, 0], [x + 1, 0], [x + 1, 1], [x, 1]]


def test_character_parts_are_merged_into_the_line_words() -> None:
    parts = [_part(char, i) for i, char in enumerate("DATE：14/10")]
    parts.append(_part("X", 20))
    grouped = _regroup(parts, "DATE：14/10 X")
    assert [text for text, _, _ in grouped] == ["DATE：14/10", "X"]
    assert grouped[0][2][0] == [0, 0] and grouped[0][2][2] == [10, 1]


def test_a_words_confidence_is_its_characters_mean() -> None:
    parts = [_part("R", 0, 0.99), _part("M", 1, 0.6), _part("9", 3, 0.9)]
    (rm, nine) = _regroup(parts, "RM 9")
    assert rm[1] == pytest.approx(0.795) and nine[1] == 0.9


def test_word_parts_and_parts_across_words_are_kept() -> None:
    words = [_part("RM", 0), _part("9.00", 3)]
    assert _regroup(words, "RM 9.00") == words
    across = [_part("RM 9", 0), _part(".00", 3)]
    assert _regroup(across, "RM 9.00") == across


def test_a_real_fullwidth_line_comes_back_as_one_word(tmp_path) -> None:
    receipt = next(p for p in write_samples(tmp_path) if p.suffix == ".png")
    image = Image.open(io.BytesIO(receipt.read_bytes())).convert("RGB")
    texts = [word.text for word in ocr_image(image, 0)]
    assert not any(len(text) == 1 and text.isdigit() for text in texts[:15]), texts
    assert any("14/10/2026" in text for text in texts), texts
