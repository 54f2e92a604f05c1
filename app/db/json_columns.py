"""The layouts of the JSON columns, defined once: words on a page, boxes of a result.

Words are stored as `[text, x0, y0, x1, y1, confidence | null]` and boxes as
`[page, x0, y0, x1, y1]` (normalised, origin top-left): compact lists, since a page can
hold a thousand words. Every reader and writer goes through these four functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.types import Box, Word


def encode_words(words: Sequence[Word]) -> list[list[Any]]:
    return [[word.text, *word.box.as_list(), word.confidence] for word in words]


def decode_words(rows: Sequence[Sequence[Any]], page: int) -> list[Word]:
    return [
        Word(text, Box(page, x0, y0, x1, y1), confidence)
        for text, x0, y0, x1, y1, confidence in rows
    ]


def encode_boxes(boxes: Sequence[Box]) -> list[list[float]]:
    return [[box.page, *box.as_list()] for box in boxes]


def decode_boxes(rows: Sequence[Sequence[Any]]) -> list[Box]:
    return [Box(int(page), x0, y0, x1, y1) for page, x0, y0, x1, y1 in rows]
