"""Reading order: words grouped into lines, lines ordered top to bottom.

Text-layer words arrive in the PDF's content order and OCR words in detection order;
neither is reliably reading order. Engines and grounding both need lines, so they are
built here once, geometrically: a word joins the line whose vertical extent it overlaps
most (relative to the smaller height), then each line is sorted left to right.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pipeline.types import Box, Word

MIN_VERTICAL_OVERLAP = 0.5


@dataclass
class Line:
    words: list[Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def box(self) -> Box:
        box = self.words[0].box
        for word in self.words[1:]:
            box = box.union(word.box)
        return box

    @property
    def page(self) -> int:
        return self.words[0].box.page


def group_lines(words: Sequence[Word]) -> list[Line]:
    """The words of ONE page as lines in reading order (top to bottom, left to right)."""
    lines: list[Line] = []
    for word in sorted(words, key=lambda w: (w.box.y0 + w.box.y1, w.box.x0)):
        best, best_overlap = None, MIN_VERTICAL_OVERLAP
        for line in lines[-8:]:  # only recent lines can share a row with this word
            overlap = _vertical_overlap(line.words[-1].box, word.box)
            if overlap >= best_overlap:
                best, best_overlap = line, overlap
        if best is None:
            lines.append(Line([word]))
        else:
            best.words.append(word)
    for line in lines:
        line.words.sort(key=lambda w: w.box.x0)
    lines.sort(key=lambda line: (line.box.y0 + line.box.y1, line.box.x0))
    return lines


def _vertical_overlap(a: Box, b: Box) -> float:
    """Shared height of two boxes as a fraction of the smaller one's height."""
    shared = min(a.y1, b.y1) - max(a.y0, b.y0)
    smaller = min(a.y1 - a.y0, b.y1 - b.y0)
    return shared / smaller if smaller > 0 else 0.0
