"""Grounding: unit cases on hand-made words, then real receipts (ground-truth lines and OCR).

The receipt tests check the property callers rely on: the box returned for a key field's
value lies on the receipt line that holds that value.
"""

from __future__ import annotations

import json
import random
import re

import pytest

from pipeline.grounding import Grounding, _gap, _intersect, _jumps, _overlaps, ground, ground_all
from pipeline.pages import open_document
from pipeline.types import Box, Word
from tests.conftest import SROIE_DIR

RECEIPTS = sorted(path.stem for path in (SROIE_DIR / "keys").glob("*.json"))
OCR_RECEIPTS = RECEIPTS[::6]  # every sixth: a fixed sample, not a hand-picked one


def word(text: str, x0: float, y0: float, x1: float, y1: float, page: int = 0) -> Word:
    return Word(text, Box(page, x0, y0, x1, y1))


def line(texts: list[str], y0: float, x0: float = 0.1, page: int = 0) -> list[Word]:
    """Words side by side on one line, 0.02 wide per character with 0.02 gaps."""
    words = []
    for text in texts:
        x1 = x0 + 0.02 * len(text)
        words.append(word(text, x0, y0, x1, y0 + 0.02, page))
        x0 = x1 + 0.02
    return words


# ---------------------------------------------------------------- unit cases


def test_exact_match_gives_the_words_box_and_score_one() -> None:
    words = line(["TOTAL:", "9.00"], 0.5)
    found = ground("9.00", [words])
    assert found == Grounding("9.00", 0, [words[1].box], [words[1]], 1.0)


def test_empty_or_blank_text_is_never_grounded() -> None:
    words = line(["TOTAL:", "9.00"], 0.5)
    assert ground("", [words]) is None
    assert ground("  \n", [words]) is None
    assert ground_all("", [words]) == []


def test_text_not_on_the_page_gives_none() -> None:
    words = line(["TOTAL:", "9.00"], 0.5) + line(["CASH", "10.00"], 0.6)
    assert ground("KOPI SUSU", [words]) is None
    assert ground("12.50", [words]) is None
    assert ground("anything", [[]]) is None


def test_a_token_split_by_ocr_still_matches_with_one_box() -> None:
    words = line(["DATE", "25/12/", "2018"], 0.3)
    found = ground("25/12/2018", [words])
    assert found is not None
    assert found.score == 1.0
    assert found.words == words[1:]
    assert found.boxes == [words[1].box.union(words[2].box)]


def test_part_of_a_merged_token_gets_a_cropped_box() -> None:
    merged = word("TOTAL: RM9.00", 0.1, 0.5, 0.75, 0.52)  # 13 characters, 0.05 each
    found = ground("9.00", [[merged]])
    assert found is not None
    assert (found.text, found.score, found.words) == ("9.00", 1.0, [merged])
    (box,) = found.boxes
    assert box.x0 == pytest.approx(0.1 + 0.05 * 9)
    assert box.x1 == pytest.approx(0.75)
    assert (box.y0, box.y1) == (0.5, 0.52)


def test_a_date_merged_with_its_label_and_time_is_cropped_to_the_date() -> None:
    merged = word("DATE:25/12/201808:13", 0.0, 0.2, 0.4, 0.22)  # 20 characters, 0.02 each
    found = ground("25/12/2018", [[merged]])
    assert found is not None and found.score == 1.0
    assert found.boxes[0].x0 == pytest.approx(0.1)
    assert found.boxes[0].x1 == pytest.approx(0.3)


def test_a_value_across_a_line_break_gets_one_box_per_line() -> None:
    first = line(["NO.53,", "JALAN", "SAGU", "18,"], 0.2)
    second = line(["TAMAN", "DAYA,"], 0.23, x0=0.2)
    found = ground("JALAN SAGU 18, TAMAN DAYA", [second + first])
    assert found is not None and found.score == 1.0
    assert found.words == first[1:] + second
    assert found.text == "JALAN SAGU 18, TAMAN DAYA"
    assert found.boxes[0] == first[1].box.union(first[3].box)
    # the second line's box stops before "DAYA,"'s comma, which is not part of the value
    assert found.boxes[1].as_list() == pytest.approx([0.2, 0.23, 0.4, 0.25])


def test_ocr_confusions_of_o_and_0_l_and_1_still_match_a_little_below_exact() -> None:
    words = line(["T0TAL", "9.O0"], 0.4) + line(["INV", "l2345"], 0.5)
    for text, expected in [("TOTAL", words[0]), ("9.00", words[1]), ("12345", words[3])]:
        found = ground(text, [words])
        assert found is not None and found.words == [expected]
        assert 0.9 <= found.score < 1.0


def test_fullwidth_characters_fold_to_ascii() -> None:
    words = line(["ＴＯＴＡＬ：", "９.００"], 0.4)
    found = ground("total: 9.00", [words])
    assert found is not None
    assert (found.score, found.text) == (1.0, "ＴＯＴＡＬ： ９.００")
    assert ground("TOTAL：", [line(["TOTAL:"], 0.4)]).score == 1.0


@pytest.mark.parametrize("page_text", ["19.00", "9.001", "129.00", "9.000", "TOTAL:19.00"])
def test_a_number_is_not_found_inside_a_longer_number(page_text: str) -> None:
    assert ground("9.00", [line([page_text], 0.4)]) is None


@pytest.mark.parametrize(("text", "page_text"), [("12.5", "12.50"), ("TOTAL", "SUBTOTAL")])
def test_a_match_may_not_cut_a_run_of_digits_or_letters(text: str, page_text: str) -> None:
    assert ground(text, [line([page_text], 0.4)]) is None
    assert ground(text, [line([page_text[: -len(text)], text], 0.4)]) is not None


def test_min_score_must_be_a_share() -> None:
    with pytest.raises(ValueError, match="min_score"):
        ground("9.00", [line(["9.00"], 0.4)], min_score=0)


def test_a_number_prefers_its_own_token_over_a_longer_number() -> None:
    words = line(["19.00"], 0.3) + line(["RM9.00"], 0.6)
    found = ground_all("9.00", [words])
    assert [g.text for g in found] == ["9.00"]
    assert found[0].words == [words[1]]


def test_a_different_amount_is_not_a_match() -> None:
    assert ground("9.00", [line(["9.50"], 0.4)]) is None
    assert ground("343.95", [line(["343.96"], 0.4)]) is None


def test_a_misread_digit_in_a_long_id_is_found_with_a_lower_score() -> None:
    found = ground("TD01167104", [line(["DOC", "TD01167105"], 0.4)])
    assert found is not None and 0.75 <= found.score < 0.85


def test_short_text_needs_a_whole_token() -> None:
    words = line(["12", "l", "x1", "1"], 0.4)
    found = ground_all("1", [words])
    assert [g.words for g in found] == [[words[3]]]
    assert ground("1", [line(["12", "x1"], 0.4)]) is None


def test_near_chooses_between_equal_occurrences() -> None:
    top = line(["SUBTOTAL", "9.00"], 0.3)
    bottom = line(["TOTAL", "9.00"], 0.6)
    words = top + bottom
    assert ground("9.00", [words]).words == [top[1]]  # no hint: first in reading order
    assert ground("9.00", [words], near=bottom[0].box).words == [bottom[1]]
    assert ground("9.00", [words], near=top[0].box).words == [top[1]]


def test_near_prefers_the_same_line_to_the_line_below() -> None:
    label = word("TOTAL:", 0.1, 0.50, 0.25, 0.52)
    beside = word("9.00", 0.8, 0.50, 0.9, 0.52)
    below = word("9.00", 0.1, 0.53, 0.2, 0.55)
    assert ground("9.00", [[label, beside, below]], near=label.box).words == [beside]


def test_near_prefers_its_own_page_and_boxes_keep_their_page() -> None:
    pages = [line(["TOTAL", "9.00"], 0.3, page=0), line(["TOTAL", "9.00"], 0.3, page=1)]
    assert ground("9.00", pages).page == 0
    found = ground("9.00", pages, near=Box(1, 0.1, 0.3, 0.2, 0.32))
    assert found.page == 1 and found.boxes[0].page == 1


def test_near_prefers_its_own_page_even_off_its_line() -> None:
    """Another line of the hint's page is nearer than the same line of another page."""
    pages = [line(["TOTAL"], 0.3) + line(["9.00"], 0.8), line(["TOTAL", "9.00"], 0.3, page=1)]
    found = ground("9.00", pages, near=pages[0][0].box)
    assert found.page == 0 and found.words == [pages[0][1]]


# Two occurrences off the line of the hint (0.45, 0.45)-(0.55, 0.47): (nearer, farther).
AROUND_THE_HINT = {  # the farther one comes first in reading order, or is straighter
    "left": ((0.25, 0.60, 0.35, 0.62), (0.05, 0.58, 0.15, 0.60)),
    "right": ((0.65, 0.60, 0.75, 0.62), (0.85, 0.58, 0.95, 0.60)),
    "above": ((0.65, 0.35, 0.75, 0.37), (0.45, 0.15, 0.55, 0.17)),
    "below": ((0.65, 0.55, 0.75, 0.57), (0.45, 0.75, 0.55, 0.77)),
    "under": ((0.45, 0.52, 0.55, 0.54), (0.55, 0.55, 0.65, 0.57)),
}


@pytest.mark.parametrize("side", list(AROUND_THE_HINT))
def test_near_takes_the_smaller_gap_on_every_side(side: str) -> None:
    """Off the hint's line, the occurrence with the smaller gap to the hint wins, in
    whichever order the two were read."""
    nearer, farther = (word("9.00", *box) for box in AROUND_THE_HINT[side])
    hint = Box(0, 0.45, 0.45, 0.55, 0.47)
    assert ground("9.00", [[farther, nearer]], near=hint).words == [nearer]
    assert ground("9.00", [[nearer, farther]], near=hint).words == [nearer]


def test_a_box_grazing_the_hint_s_line_is_not_on_it() -> None:
    """Sharing a line means overlapping the hint by at least half a line's height: a value
    a quarter of a line lower, far to the right, is off the line like the one below."""
    hint = Box(0, 0.10, 0.450, 0.20, 0.470)
    grazing = word("9.00", 0.90, 0.465, 0.95, 0.485)
    below = word("9.00", 0.10, 0.500, 0.15, 0.520)
    assert ground("9.00", [[grazing, below]], near=hint).words == [below]
    level = word("9.00", 0.90, 0.455, 0.95, 0.475)  # three quarters: on the line
    assert ground("9.00", [[level, below]], near=hint).words == [level]


@pytest.mark.parametrize(
    ("hint", "value"),
    [
        ((0.450, 0.460), (0.453, 0.473)),  # a short hint, most of it beside a taller value
        ((0.450, 0.480), (0.473, 0.483)),  # a short value, most of it beside a taller hint
    ],
)
def test_half_of_the_shorter_box_makes_a_line(
    hint: tuple[float, float], value: tuple[float, float]
) -> None:
    level = word("9.00", 0.90, value[0], 0.95, value[1])
    below = word("9.00", 0.10, 0.550, 0.15, 0.570)
    near = Box(0, 0.10, hint[0], 0.20, hint[1])
    assert ground("9.00", [[level, below]], near=near).words == [level]


def test_a_clearly_better_score_beats_nearness() -> None:
    exact = line(["DOC", "TD01167104"], 0.3)
    misread = line(["DOC", "TD01167105"], 0.6)
    found = ground("TD01167104", [exact + misread], near=misread[0].box)
    assert found.words == [exact[1]]


def test_near_decides_between_nearly_equal_scores() -> None:
    exact = line(["TOTAL", "9.00"], 0.3)
    confused = line(["TOTAL", "9.O0"], 0.6)
    found = ground("9.00", [exact + confused], near=confused[0].box)
    assert found.words == [confused[1]] and found.score < 1.0


def test_ground_all_lists_every_occurrence_best_first() -> None:
    words = line(["TD01167104"], 0.2) + line(["TD01167105"], 0.4) + line(["TD01167104"], 0.6)
    found = ground_all("TD01167104", [words])
    assert [g.words for g in found] == [[words[0]], [words[2]], [words[1]]]
    assert found[0].score == found[1].score == 1.0 > found[2].score
    assert ground_all("TD01167104", [words], min_score=0.9) == found[:2]


def test_of_overlapping_occurrences_the_better_is_kept() -> None:
    """In "20 2020" the text "2020" starts at the first word too, cutting the second; the
    whole word comes first, and the earlier, worse span that overlaps it is dropped."""
    words = line(["20", "2020"], 0.2)
    found = ground_all("2020", [words], min_score=0.5)
    assert [(g.words, g.score) for g in found] == [([words[1]], 1.0)]


def test_the_order_words_arrive_in_does_not_matter() -> None:
    words = line(["JALAN", "SAGU", "18,"], 0.2) + line(["TAMAN", "DAYA"], 0.23)
    shuffled = words[:]
    random.Random(1).shuffle(shuffled)
    assert ground("SAGU 18, TAMAN", [shuffled]) == ground("SAGU 18, TAMAN", [words])


def test_a_slightly_misread_phrase_is_found_with_a_fuzzy_score() -> None:
    words = line(["BOOK", "TA", ".K(TAMAN", "DAYA)", "SDN", "BND"], 0.1)
    found = ground("BOOK TA .K (TAMAN DAYA) SDN BHD", [words])
    assert found is not None and found.words == words
    assert 0.9 < found.score < 1.0


def test_a_dense_page_still_finds_the_one_right_word() -> None:
    rng = random.Random(7)
    words = [
        word(
            f"{rng.randrange(10, 99)}.{rng.randrange(10, 99)}",
            x / 25,
            y / 50,
            (x + 0.8) / 25,
            (y + 0.8) / 50,
        )
        for y in range(40)
        for x in range(25)
    ]
    target = word("1234.56", 0.5, 0.9, 0.58, 0.915)
    found = ground("1,234.56", [[*words, target]])
    assert found is not None and found.words == [target]


# ---------------------------------------------------------------- real receipts


def receipt_keys(receipt: str) -> dict[str, str]:
    return json.loads((SROIE_DIR / "keys" / f"{receipt}.json").read_text(encoding="utf-8"))


def receipt_lines(receipt: str) -> list[tuple[str, list[float]]]:
    """Ground-truth lines: transcript and pixel rectangle [x0, y0, x1, y1]."""
    rows = (SROIE_DIR / "boxes" / f"{receipt}.csv").read_text(encoding="utf-8-sig").splitlines()
    lines = []
    for row in filter(str.strip, rows):
        *corners, text = row.split(",", 8)
        xs, ys = [float(v) for v in corners[0::2]], [float(v) for v in corners[1::2]]
        lines.append((text, [min(xs), min(ys), max(xs), max(ys)]))
    return lines


def image_size(receipt: str) -> tuple[int, int]:
    from PIL import Image

    with Image.open(SROIE_DIR / "images" / f"{receipt}.jpg") as image:
        return image.size


def ground_truth_words(receipt: str) -> list[Word]:
    """Each GT line split into words, boxes proportional to character offsets in the line."""
    width, height = image_size(receipt)
    words = []
    for text, (x0, y0, x1, y1) in receipt_lines(receipt):
        share = (x1 - x0) / len(text)
        for match in re.finditer(r"\S+", text):
            left, right = x0 + share * match.start(), x0 + share * match.end()
            words.append(
                Word(match.group(), Box.from_pixels(0, left, y0, right, y1, width, height))
            )
    return words


def value_lines(receipt: str, value: str) -> list[Box]:
    """The normalised boxes of the GT lines whose transcript contains the value."""
    width, height = image_size(receipt)

    def compact(text: str) -> str:
        return "".join(text.split()).casefold()

    return [
        Box.from_pixels(0, *rect, width, height)
        for text, rect in receipt_lines(receipt)
        if compact(value) in compact(text)
    ]


def half_inside(box: Box, target: Box) -> bool:
    dx = min(box.x1, target.x1) - max(box.x0, target.x0)
    dy = min(box.y1, target.y1) - max(box.y0, target.y0)
    area = (box.x1 - box.x0) * (box.y1 - box.y0)
    return dx > 0 and dy > 0 and dx * dy >= 0.5 * area


def hit_rate(pages_by_receipt: dict[str, list[Word]], field: str) -> tuple[float, list[str]]:
    """Share of receipts whose value grounds on a GT line holding it, and the misses."""
    misses = []
    for receipt, words in pages_by_receipt.items():
        value = receipt_keys(receipt)[field]
        found = ground(value, [words])
        targets = value_lines(receipt, value)
        if found is None or not any(half_inside(found.boxes[0], t) for t in targets):
            misses.append(receipt)
    return 1 - len(misses) / len(pages_by_receipt), misses


def ocr_receipts(receipts: list[str]) -> dict[str, list[Word]]:
    """The OCR words of each receipt, read through the real page pipeline."""
    words = {}
    for receipt in receipts:
        data = (SROIE_DIR / "images" / f"{receipt}.jpg").read_bytes()
        with open_document(data) as document:
            words[receipt] = next(document.pages()).words
    return words


@pytest.fixture(scope="module")
def ocr_words() -> dict[str, list[Word]]:
    """A fixed sample of receipts OCR'd once (1-3 s each, so only a few)."""
    return ocr_receipts(OCR_RECEIPTS)


def test_the_receipt_data_is_there() -> None:
    assert len(RECEIPTS) == 30, f"expected 30 SROIE receipts under {SROIE_DIR}"


@pytest.mark.parametrize("field", ["date", "total"])
def test_fields_ground_on_their_line_with_ground_truth_words(field: str) -> None:
    rate, misses = hit_rate({r: ground_truth_words(r) for r in RECEIPTS}, field)
    assert rate >= 0.95, f"{field}: {rate:.0%} grounded on their line, misses {misses}"


@pytest.mark.parametrize("field", ["date", "total"])
def test_fields_ground_on_their_line_with_ocr_words(
    field: str, ocr_words: dict[str, list[Word]]
) -> None:
    rate, misses = hit_rate(ocr_words, field)
    assert rate >= 0.8, f"{field}: {rate:.0%} grounded on their line, misses {misses}"


def test_a_field_from_one_receipt_is_not_found_on_another() -> None:
    pairs = list(zip(RECEIPTS, RECEIPTS[7:] + RECEIPTS[:7], strict=True))
    wrong = [
        (receipt, other)
        for receipt, other in pairs
        if ground(receipt_keys(receipt)["date"], [ground_truth_words(other)]) is not None
        and receipt_keys(receipt)["date"] != receipt_keys(other)["date"]
    ]
    assert wrong == []


@pytest.mark.parametrize(
    "printed",
    [
        "INV-2024-00042",  # a character more, near the end
        "INV-20244-0042",  # a character more, in the middle
        "INV-2024-042",  # a character fewer
        "NV-2024-0042",  # the first character lost
        "INV-2024-004",  # the last character lost
    ],
)
def test_a_misread_id_is_found_whole_not_cut(printed: str) -> None:
    """An OCR insertion or deletion shifts the alignment: the match still covers the whole
    printed id, never a piece of it or of its neighbours."""
    words = line(["Invoice", "no.", printed, "dated", "12/03/2024"], 0.3)
    found = ground("INV-2024-0042", [words])
    assert found is not None and found.words == [words[2]] and found.text == printed
    assert 0.75 <= found.score < 1.0


def test_the_geometry_nearness_and_lines_are_judged_by() -> None:
    """Boxes on one line are as far apart as their horizontal gap; a line band takes a box
    that fills half of the smaller height, never one that only touches it; spans that touch
    do not overlap; a match whose next line starts where the last ended has left its column."""
    left, right = Box(0, 0.1, 0.25, 0.2, 0.5), Box(0, 0.45, 0.375, 0.5, 0.625)
    assert _gap(left, right) == pytest.approx(0.25) == _gap(right, left)
    assert _gap(left, Box(0, 0.1, 0.75, 0.2, 1.0)) == pytest.approx(0.25)
    assert _overlaps((0.25, 0.5), right)  # exactly half of each
    assert not _overlaps((0.25, 0.375), Box(0, 0.0, 0.375, 0.1, 0.5))
    assert not _overlaps((0.5, 0.5), Box(0, 0.0, 0.5, 0.1, 0.75))  # a band of no height
    assert [
        _intersect(a, b) for a, b in [((0, 5), (4, 9)), ((0, 9), (2, 3)), ((0, 5), (5, 9))]
    ] == [
        True,
        True,
        False,
    ]
    step = [Box(0, 0.1, 0.1, 0.3, 0.12), Box(0, 0.3, 0.13, 0.5, 0.15)]
    assert _jumps(Grounding("a b", 0, step, [], 1.0))
    under = [Box(0, 0.1, 0.1, 0.3, 0.12), Box(0, 0.29, 0.13, 0.5, 0.15)]
    assert not _jumps(Grounding("a b", 0, under, [], 1.0))


# ---------------------------------------------------------------- reviewed survivors


@pytest.mark.parametrize(
    ("text", "texts", "expected"),
    [
        ("RM", ["RM"], [0]),  # the page's only word
        ("RM", ["RM", "9.00"], [0]),  # a word followed by others
        ("1", ["x1"], []),  # the end of a token, at the start of the page
        ("2", ["QTY", "2", "ITEM", "A2"], [1]),  # the whole word before a token ending in it
        ("No.", ["No.123", "No."], [1]),  # a 3-character text is still a short text
        ("100", ["1OO"], []),  # short texts get no O/0 folding
    ],
)
def test_a_short_text_is_found_as_whole_words_only(
    text: str, texts: list[str], expected: list[int]
) -> None:
    """1-3 characters are too ambiguous to match inside a token or fuzzily: whole words only."""
    words = line(texts, 0.4)
    assert [g.words for g in ground_all(text, [words])] == [[words[i]] for i in expected]


def test_a_short_value_repeated_down_a_column_is_found_every_time() -> None:
    """A quantity column lists "1" three times: every row is an occurrence."""
    words = line(["QTY", "1"], 0.2) + line(["QTY", "1"], 0.3) + line(["QTY", "1"], 0.4)
    assert [g.words for g in ground_all("1", [words])] == [[words[1]], [words[3]], [words[5]]]


@pytest.mark.parametrize(
    ("text", "page_text"), [("234.56", "1,234.56"), ("1,234", "1,234.56"), ("1234", "1234.5")]
)
def test_a_number_is_not_found_across_its_decimal_or_thousands_mark(
    text: str, page_text: str
) -> None:
    """234.56 and 1,234 are other amounts than 1,234.56: a match may not start or end at a
    "." or "," that has digits on both sides."""
    assert ground(text, [line(["TOTAL", page_text], 0.4)]) is None


def test_min_score_one_still_finds_an_exact_match() -> None:
    """min_score is inclusive: asking for exact matches only still gets them."""
    words = line(["TOTAL:", "9.00"], 0.5)
    assert ground("9.00", [words], min_score=1.0).words == [words[1]]


def test_a_value_twice_in_one_region_line_is_boxed_at_its_first_copy() -> None:
    """A Florence-2 region line holds several values; the reading-order first copy is boxed."""
    region = word("Subtotal 9.00 Total 9.00", 0.1, 0.5, 0.58, 0.52)  # 24 chars, 0.02 each
    (found,) = ground_all("9.00", [[region]])
    assert found.boxes[0].as_list() == pytest.approx([0.28, 0.5, 0.36, 0.52])


def test_one_misread_letter_in_a_four_letter_word_is_found_at_the_threshold() -> None:
    """CASH read as CA5H scores exactly 0.75, and min_score 0.75 includes it."""
    words = line(["CA5H", "9.00"], 0.4)
    found = ground("CASH", [words])
    assert found is not None and (found.words, found.score) == ([words[0]], 0.75)


@pytest.mark.parametrize(
    "lines",
    [
        [["CASH", "10.00"], ["TOTAL:", "9.00"]],
        [["TOTAL", "9.00"], ["CASH", "10.00"]],  # the page's first word
        [["CASH", "RM10"], ["TOTAL", "9.00"]],  # a window starts at TOTAL: 8 characters in
    ],
    ids=["middle", "page-start", "window-start"],
)
def test_subtotal_is_not_grounded_on_the_total_line(lines: list[list[str]]) -> None:
    """TOTAL is only part of SUBTOTAL: on a receipt without SUBTOTAL nothing is found,
    wherever TOTAL stands (5 of 8 characters would score 0.769 if judged on its own)."""
    words = [w for n, texts in enumerate(lines) for w in line(texts, 0.4 + 0.05 * n)]
    assert ground("SUBTOTAL", [words]) is None


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["INV-2024-00042", "DOC", "INV-2024-042"], [0, 2]),
        (["DOC", "INV-2024-00042", "INV-2024-00042"], [1, 2]),
    ],
)
def test_two_misread_copies_on_one_line_are_both_listed(
    texts: list[str], expected: list[int]
) -> None:
    """ground_all lists every occurrence: one misread copy does not hide another beside it."""
    words = line(texts, 0.3)
    found = ground_all("INV-2024-0042", [words])
    assert sorted(words.index(g.words[0]) for g in found) == expected


@pytest.mark.parametrize(
    ("texts", "expected", "score"),
    [
        (["Invoice", "no.", "INV-2024-00042XYZ"], "INV-2024-00042", 0.856),  # junk left out
        (["Invoice", "no.", "INV-2024-042"], "INV-2024-042", 0.8533),
    ],
)
def test_a_misread_id_is_boxed_from_its_first_character(
    texts: list[str], expected: str, score: float
) -> None:
    """The alignment may start late: refinement moves the start back onto the id's first
    character, and the score is reported to four decimals."""
    found = ground("INV-2024-0042", [line(texts, 0.3)])
    assert found is not None and (found.text, found.score) == (expected, score)


@pytest.mark.parametrize(
    "texts", [["INVXXX-2024-0042", "dated"], ["XXXINV", "2024", "0042"]], ids=["inside", "start"]
)
def test_three_inserted_characters_are_beyond_the_refinement(texts: list[str]) -> None:
    """Refinement moves each end of an alignment by at most two characters (the documented
    limit): three inserted characters leave the id cut, so it is not grounded."""
    assert ground("INV-2024-0042", [line(texts, 0.3)]) is None


def test_a_match_that_cuts_a_number_keeps_half_its_own_score() -> None:
    """The boundary cut halves the score, it does not replace it: 9.O0 inside 19.O0 keeps
    half of 0.975."""
    found = ground("9.00", [line(["TOTAL:19.O0"], 0.4)], min_score=0.4)
    assert found is not None and found.score == 0.4875


def test_a_word_with_trailing_space_keeps_its_whole_box() -> None:
    """Region text may carry a trailing space: a match of all its other characters is the
    whole word, not a crop to 4/5 of it."""
    padded = word("9.00 ", 0.1, 0.1, 0.2, 0.12)
    assert ground("9.00", [[padded]]).boxes == [padded.box]


def test_a_score_exactly_0_05_below_the_best_is_still_tied() -> None:
    """9.OO scores 0.95, exactly 0.05 below the exact copy: near decides, and each copy is
    listed once."""
    exact = line(["TOTAL", "9.00"], 0.1)
    confused = line(["CASH", "9.OO"], 0.15)
    found = ground_all("9.00", [exact + confused], near=confused[0].box)
    assert [(g.words, g.score) for g in found] == [([confused[1]], 0.95), ([exact[1]], 1.0)]


def test_a_stray_mark_before_an_id_at_the_top_of_the_page_is_left_out() -> None:
    """The refinement may move the start right even at the page's first character."""
    found = ground("INV-2024-0042", [line(["*INV-2024-042", "dated"], 0.1)])
    assert found is not None and (found.text, found.score) == ("INV-2024-042", 0.8533)
    assert found.boxes[0].as_list() == pytest.approx([0.12, 0.1, 0.36, 0.12])


def test_an_address_printed_twice_at_the_end_of_the_page_is_listed_twice() -> None:
    """Billing and delivery address, comma lost by OCR: the last window of the page counts."""
    address = ["SAGU", "18", "TAMAN", "DAYA"]
    words = line(address, 0.1) + line(address, 0.15) + line(["DOC"], 0.2)
    found = ground_all("SAGU 18, TAMAN DAYA", [words])
    assert [g.words for g in found] == [words[:4], words[4:8]]


def test_a_value_interrupted_by_another_word_is_not_grounded_across_it() -> None:
    """ "SAGU 18 DATE TAMAN DAYA" holds a foreign word inside the address: not a match."""
    words = line(["TOTAL:", "9.00", "SAGU", "18", "DATE", "TAMAN", "DAYA", "Invoice"], 0.3)
    assert ground("SAGU 18, TAMAN DAYA", [words]) is None


def test_a_word_inside_the_page_s_only_token_keeps_half_its_score() -> None:
    """With min_score lowered, CASH inside HCASH is listed at half score, cropped to CASH,
    and refining at the page's last character stays inside the page."""
    (found,) = ground_all("CASH", [line(["HCASH"], 0.1)], min_score=0.4)
    assert (found.text, found.score) == ("CASH", 0.5)
    assert found.boxes[0].as_list() == pytest.approx([0.12, 0.1, 0.2, 0.12])


@pytest.mark.parametrize("min_score", [0.0, 1.5])
def test_a_min_score_outside_zero_to_one_is_refused(min_score: float) -> None:
    with pytest.raises(ValueError, match=rf"^min_score must be in \(0, 1\], got {min_score}$"):
        ground_all("9.00", [], min_score=min_score)
