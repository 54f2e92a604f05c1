"""Reading order: words grouped into lines, lines ordered top to bottom.

Text-layer words arrive in the PDF's content order and OCR words in detection order;
neither is reliably reading order. Engines and grounding both need lines, so they are
built here once, geometrically: a word joins the line whose row it overlaps most
(relative to the smaller height), then each line is sorted left to right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

from pipeline.types import Box, Word

MIN_VERTICAL_OVERLAP = 0.5
RECENT_LINES = 8  # only the lines begun last can share a row with the next word
T = TypeVar("T")


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


class PageLines(list[Line]):
    """A page's lines, with a memo for what readers derive from them once per page rather
    than once per field (pipeline.engines.keyvalue's index of key windows, the order of
    the page's numeric dates)."""

    def __init__(self, lines: Sequence[Line] = ()) -> None:
        super().__init__(lines)
        self.memo: dict[str, object] = {}


def per_page(lines: Sequence[Line], name: str, derive: Callable[[Sequence[Line]], T]) -> T:
    """What `derive` makes of a page's lines, kept as `name` on lines that can keep it."""
    if not isinstance(lines, PageLines):
        return derive(lines)
    if name not in lines.memo:
        lines.memo[name] = derive(lines)
    return cast(T, lines.memo[name])


def group_lines(words: Sequence[Word]) -> PageLines:
    """The words of ONE page as lines in reading order (top to bottom, left to right)."""
    lines: list[Line] = []
    spans: list[list[float]] = []  # each line's top and bottom: lines a word cannot reach
    for word in sorted(words, key=lambda w: (w.box.y0 + w.box.y1, w.box.x0)):
        box = word.box
        best, best_overlap = -1, MIN_VERTICAL_OVERLAP
        for index in range(max(len(lines) - RECENT_LINES, 0), len(lines)):
            top, bottom = spans[index]
            if box.y0 < bottom and top < box.y1:
                overlap = _row_overlap(lines[index], box)
                if overlap >= best_overlap:
                    best, best_overlap = index, overlap
        if best < 0:
            lines.append(Line([word]))
            spans.append([box.y0, box.y1])
        else:
            lines[best].words.append(word)
            spans[best] = [min(spans[best][0], box.y0), max(spans[best][1], box.y1)]
    for line in lines:
        line.words.sort(key=lambda w: w.box.x0)
    lines.sort(key=lambda line: (line.box.y0 + line.box.y1, line.box.x0))
    return PageLines(lines)


def _row_overlap(line: Line, box: Box) -> float:
    """How much `box` shares the row of `line`: its overlap with the line's word nearest
    beside it (a line slanting across a scan drifts from word to word) or with the line's
    middle band, whichever is more. Not with the word last added: a word of another column
    set between two close lines would chain them into one ("Ma 35 rue jolie de boutique la"
    from "Ma jolie boutique" over "35 rue de la", beside "Alexandre Payet")."""
    beside = min(line.words, key=lambda word: _horizontal_gap(word.box, box))
    overlap = _vertical_overlap(beside.box, box)
    return overlap if overlap >= 1.0 else max(overlap, _vertical_overlap(_band(line), box))


def _horizontal_gap(a: Box, b: Box) -> float:
    return max(a.x0 - b.x1, b.x0 - a.x1, 0.0)


def _band(line: Line) -> Box:
    """The line's row: the median top and bottom of its words."""
    middle = len(line.words) // 2
    top = sorted(word.box.y0 for word in line.words)[middle]
    bottom = sorted(word.box.y1 for word in line.words)[middle]
    first = line.words[0].box
    return Box(first.page, first.x0, top, first.x1, bottom)


def _vertical_overlap(a: Box, b: Box) -> float:
    """Shared height of two boxes as a fraction of the smaller one's height."""
    shared = min(a.y1, b.y1) - max(a.y0, b.y0)
    smaller = min(a.y1 - a.y0, b.y1 - b.y0)
    return shared / smaller if smaller > 0 else 0.0


SEGMENT_GAP = 1.5  # a horizontal gap wider than this many line heights splits a line
MIN_COLUMN_OVERLAP = 0.5


def column_order(words: Sequence[Word]) -> list[list[Word]]:
    """The words of ONE page as line segments, column by column.

    A table cell or a side-by-side block that wraps onto a second line is split by the
    words of its neighbours when the page is read in full-width rows ("to water" | "to air"
    / "kg/year" | "kg/year"). Here each row is cut into segments at wide gaps, and a segment
    follows the one above it when they overlap horizontally, so a wrapped cell reads in one
    piece. Runs are returned in the order their first segment appears.
    """
    runs: list[list[list[Word]]] = []
    open_runs: list[tuple[int, list[list[Word]]]] = []  # (row of last segment, run)
    for row, line in enumerate(group_lines(words)):
        still_open = []
        for segment in _segments(line):
            run = _continuing_run(segment, row, open_runs)
            if run is None:
                run = []
                runs.append(run)
            run.append(segment)
            still_open.append((row, run))
        open_runs = still_open
    return [segment for run in runs for segment in run]


def _segments(line: Line) -> list[list[Word]]:
    heights = sorted(word.box.y1 - word.box.y0 for word in line.words)
    gap_limit = SEGMENT_GAP * heights[len(heights) // 2]
    segments = [[line.words[0]]]
    for previous, word in zip(line.words, line.words[1:], strict=False):
        if word.box.x0 - previous.box.x1 > gap_limit:
            segments.append([])
        segments[-1].append(word)
    return segments


def _continuing_run(
    segment: list[Word], row: int, open_runs: list[tuple[int, list[list[Word]]]]
) -> list[list[Word]] | None:
    """The run whose last segment, on the row just above, this segment sits under."""
    x0, x1 = segment[0].box.x0, segment[-1].box.x1
    best, best_overlap = None, MIN_COLUMN_OVERLAP
    for last_row, run in open_runs:
        above = run[-1]
        a0, a1 = above[0].box.x0, above[-1].box.x1
        smaller = min(x1 - x0, a1 - a0)
        overlap = (min(x1, a1) - max(x0, a0)) / smaller if smaller > 0 else 0.0
        if last_row == row - 1 and overlap >= best_overlap:
            best, best_overlap = run, overlap
    return best
