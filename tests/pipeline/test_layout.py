"""Reading order: rows for paragraphs, column runs for wrapped table cells."""

from __future__ import annotations

from pipeline.grounding import ground
from pipeline.layout import column_order, group_lines
from pipeline.types import Box, Word


def _word(text: str, x0: float, row: int, width: float = 0.08) -> Word:
    y0 = 0.1 + row * 0.03
    return Word(text, Box(0, x0, y0, x0 + width, y0 + 0.02))


# Two table columns; each cell wraps onto a second row:
#   to water   to air
#   kg/year    kg/year
TABLE = [
    _word("to", 0.10, 0, 0.03),
    _word("water", 0.14, 0, 0.06),
    _word("to", 0.50, 0, 0.03),
    _word("air", 0.54, 0, 0.04),
    _word("kg/year", 0.10, 1),
    _word("kg/year", 0.50, 1),
]


def test_rows_read_across_columns() -> None:
    rows = [[w.text for w in line.words] for line in group_lines(list(reversed(TABLE)))]
    assert rows == [["to", "water", "to", "air"], ["kg/year", "kg/year"]]


def test_column_order_keeps_wrapped_cells_together() -> None:
    segments = [[w.text for w in segment] for segment in column_order(TABLE)]
    assert segments == [["to", "water"], ["kg/year"], ["to", "air"], ["kg/year"]]


def test_a_wrapped_cell_grounds_inside_its_column() -> None:
    found = ground("to air kg/year", [TABLE])
    assert found is not None and found.score == 1.0
    assert len(found.boxes) == 2 and all(box.x0 >= 0.5 for box in found.boxes)


def test_a_paragraph_reads_the_same_either_way() -> None:
    words = [
        _word(text, 0.1 + 0.09 * i, row)
        for row in range(3)
        for i, text in enumerate(["a", "b", "c"])
    ]
    by_rows = [w for line in group_lines(words) for w in line.words]
    assert [w for segment in column_order(words) for w in segment] == by_rows
