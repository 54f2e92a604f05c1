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


def test_a_word_between_two_close_lines_does_not_chain_them_into_one() -> None:
    """A buyer's block set tight ("Ma jolie boutique" over "35 rue de la République"),
    and beside it, half a line lower, a contact's name: the contact joins one row, and the
    block's two lines stay two (chained through the contact, they read "Ma 35 rue jolie
    de boutique la République")."""
    words = [
        Word(text, Box(0, x0, y0, x0 + 0.05, y0 + height))
        for text, x0, y0, height in [
            *(("Ma", 0.06, 0.167, 0.013), ("jolie", 0.12, 0.167, 0.013)),
            *(("boutique", 0.18, 0.167, 0.013), ("35", 0.06, 0.180, 0.013)),
            *(("rue", 0.12, 0.180, 0.013), ("de", 0.18, 0.180, 0.013)),
            *(("Alexandre", 0.55, 0.172, 0.016), ("Payet", 0.61, 0.172, 0.016)),
        ]
    ]
    rows = [line.text for line in group_lines(words)]
    assert rows == ["Ma jolie boutique Alexandre Payet", "35 rue de"]


def test_a_line_slanting_across_a_scan_stays_one_line() -> None:
    """Each word a little lower than the one before, the last a full height below the
    first: still one line, as each word sits level with its neighbour."""
    words = [
        Word(text, Box(0, 0.1 + 0.1 * i, 0.2 + 0.005 * i, 0.18 + 0.1 * i, 0.215 + 0.005 * i))
        for i, text in enumerate(["TOTAL", "AMOUNT", "DUE", "RM", "12.50"])
    ]
    assert [line.text for line in group_lines(words)] == ["TOTAL AMOUNT DUE RM 12.50"]


def test_a_tall_mark_over_a_line_does_not_split_it() -> None:
    """A stamped code, twice the print's height and set half over the shop's name: the
    name's words, each level with the line's middle though not with the code beside
    them, stay one line (the code joins it)."""
    words = [
        Word(text, Box(0, x0, y0, x1, y1))
        for text, x0, y0, x1, y1 in [
            ("A06103", 0.548, 0.238, 0.633, 0.270),
            ("UNIHAKKA", 0.317, 0.2611, 0.3945, 0.2768),
            ("INTERNATIONAL", 0.3943, 0.2623, 0.5148, 0.2784),
            ("SDN", 0.5215, 0.2641, 0.5519, 0.2788),
            ("BHD", 0.5549, 0.2645, 0.5852, 0.2792),
        ]
    ]
    [line] = group_lines(words)
    assert [w.text for w in line.words if w.text != "A06103"] == [
        "UNIHAKKA", "INTERNATIONAL", "SDN", "BHD"
    ]  # fmt: skip
