"""Grounding: find the words on a page that spell an answer, and the boxes where they sit.

Engine-independent: it needs only answer text and the page's words (text layer, OCR, or
Florence-2 region lines). Each page is turned into one "stream": its words grouped into
lines geometrically, lines top to bottom, words left to right, every character normalised
(NFKC, casefold), whitespace dropped. Dropping whitespace is what lets "25/12/ 2018" (an OCR
split) match "25/12/2018", and "TOTAL:RM9.00" (an OCR merge) contain "9.00". Every stream
character remembers its word and its offset in that word's text, so a match that covers
part of a token gets a box cropped to its share of the token's width.

The algorithm and the scoring are described in docs/grounding.md.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein, ScoreAlignment

from pipeline.layout import column_order, group_lines
from pipeline.types import Box, Word

# Characters OCR confuses; both sides are folded alike, so "9.O0" matches "9.00".
_CONFUSIONS = str.maketrans({"o": "0", "l": "1", "i": "1", "|": "1"})
# Up to this many characters a text is too ambiguous to match fuzzily or inside a token.
_SHORT = 3
# Exact matches score 1; a match that differs only by OCR confusions scores a little less.
_FOLDED_WEIGHT = 0.9
# A match that cuts a number or word in two ("9.00" inside "19.00") keeps this share.
_BOUNDARY_FACTOR = 0.5
# What follows a date that OCR merged with its time: "12:07" in "16-03-201812:07:10".
_TIME_START = re.compile(r"\d{1,2}:")
# Candidates within this score of the best count as equally good: `near` then decides.
_NEAR_EQUAL = 0.05


@dataclass(frozen=True)
class Grounding:
    """Where a text was found: the matched page text, one box per line, and a 0..1 score."""

    text: str
    page: int
    boxes: list[Box]
    words: list[Word]
    score: float


def ground(
    text: str,
    pages: Sequence[Sequence[Word]],
    *,
    near: Box | None = None,
    min_score: float = 0.75,
) -> Grounding | None:
    """The best occurrence of `text` on the pages, or None when none scores >= min_score.

    Occurrences scoring within 0.05 of the best count as tied; a tie goes to the one
    nearest `near` (on its page, then on its line, then by gap), and without `near` to the
    first in reading order (page, then top to bottom, left to right).
    """
    found = ground_all(text, pages, near=near, min_score=min_score)
    return found[0] if found else None


def ground_all(
    text: str,
    pages: Sequence[Sequence[Word]],
    *,
    near: Box | None = None,
    min_score: float = 0.75,
) -> list[Grounding]:
    """Every distinct occurrence of `text` scoring >= min_score, best first (as `ground`)."""
    if not 0.0 < min_score <= 1.0:
        raise ValueError(f"min_score must be in (0, 1], got {min_score}")
    query = _Query(text)
    if not query.plain:
        return []
    found: dict[frozenset[int], tuple[Grounding, tuple[int, float, float]]] = {}
    for page_number, words in enumerate(pages):
        # Full-width rows first, then column by column, so wrapped cells match too.
        for lines in (_rows(words), column_order(words)):
            stream = _Stream.build(lines)
            for span, score in _occurrences(query, stream, min_score):
                grounding = stream.grounding(span, score)
                key = frozenset(id(word) for word in grounding.words)
                first = grounding.boxes[0]
                if key not in found or found[key][0].score < score:
                    found[key] = (grounding, (page_number, first.y0, first.x0))
    return _rank(list(found.values()), near)


def _rows(words: Sequence[Word]) -> list[list[Word]]:
    return [line.words for line in group_lines(words)]


class _Query:
    """The text looked for, in the normalised compact forms the page stream uses."""

    def __init__(self, text: str):
        self.plain = _fold(text)[0]
        self.folded = self.plain.translate(_CONFUSIONS)
        self.digits = "".join(char for char in self.folded if char.isdigit())


def _fold(text: str) -> tuple[str, Sequence[int]]:
    """The normalised, whitespace-free text, and the source index of each of its characters.

    Normalising one character at a time keeps the link back to the source text, which the
    cropping needs; NFKC folds fullwidth forms ("：" -> ":"), casefold folds case. A plain
    ASCII word, the common case, takes a fast path: the stream is built for every lookup.
    """
    if text.isascii() and text.split() == [text]:
        return text.lower(), range(len(text))
    pairs = [
        (char, i)
        for i, source in enumerate(text)
        for char in unicodedata.normalize("NFKC", source).casefold()
        if not char.isspace()
    ]
    return "".join(char for char, _ in pairs), [i for _, i in pairs]


@dataclass(frozen=True)
class _Stream:
    """One page as a compact character stream, with each character traced to its word."""

    plain: str
    folded: str
    word_of: list[int]
    offset_of: list[int]
    words: list[Word]
    line_of: list[int]

    @classmethod
    def build(cls, lines: Sequence[Sequence[Word]]) -> _Stream:
        """The stream of `lines` (each a run of words read left to right) in that order."""
        pieces: list[str] = []
        word_of: list[int] = []
        offset_of: list[int] = []
        ordered: list[Word] = []
        line_of: list[int] = []
        for line_number, line in enumerate(lines):
            for word in line:
                text, offsets = _fold(word.text)
                pieces.append(text)
                offset_of.extend(offsets)
                word_of.extend([len(ordered)] * len(text))
                ordered.append(word)
                line_of.append(line_number)
        plain = "".join(pieces)
        return cls(plain, plain.translate(_CONFUSIONS), word_of, offset_of, ordered, line_of)

    def grounding(self, span: tuple[int, int], score: float) -> Grounding:
        """The Grounding of stream characters [start, end): cropped boxes, one per line."""
        pieces = self._pieces(*span)
        boxes: dict[int, Box] = {}
        for index, first, last in pieces:
            box = _crop(self.words[index], first, last)
            line = self.line_of[index]
            boxes[line] = boxes[line].union(box) if line in boxes else box
        words = [self.words[index] for index, _, _ in pieces]
        text = " ".join(self.words[index].text[first : last + 1] for index, first, last in pieces)
        return Grounding(text, words[0].box.page, list(boxes.values()), words, score)

    def _pieces(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """(word index, first, last source offset) of each word the span touches."""
        pieces: list[tuple[int, int, int]] = []
        for position in range(start, end):
            index, offset = self.word_of[position], self.offset_of[position]
            if pieces and pieces[-1][0] == index:
                pieces[-1] = (index, pieces[-1][1], offset)
            else:
                pieces.append((index, offset, offset))
        return pieces

    def is_one_word(self, start: int, end: int) -> bool:
        """Whether the span is exactly the whole of one word."""
        word = self.word_of[start]
        return (
            self.word_of[end - 1] == word
            and (start == 0 or self.word_of[start - 1] != word)
            and (end == len(self.plain) or self.word_of[end] != word)
        )

    def cuts_run(self, start: int, end: int) -> bool:
        """Whether the span starts or ends inside a number or word of one token.

        "9.00" inside "19.00", "9.001" or "129.00", and "12" inside "12.50", are other
        numbers, not matches; "9.00" inside "RM9.00", or "25/12/2018" inside the merged
        OCR token "DATE:25/12/2018", are fine, and so is a date that OCR ran into the time
        after it ("16-03-201812:07:10").
        """
        return (
            self._joined(start - 1, start)
            or (self._joined(end - 1, end) and not _TIME_START.match(self.plain, end))
            or self._decimal(start - 2, start)
            or self._decimal(end - 1, end + 1)
        )

    def _joined(self, left: int, right: int) -> bool:
        """Two adjacent characters of one token, both digits or both letters."""
        if not self._same_token(left, right):
            return False
        a, b = self.plain[left], self.plain[right]
        return a.isdigit() and b.isdigit() or a.isalpha() and b.isalpha()

    def _decimal(self, left: int, right: int) -> bool:
        """Digits on both sides of a "." or "," at left + 1, all in one token."""
        return (
            self._same_token(left, right)
            and self.plain[left + 1] in ".,"
            and self.plain[left].isdigit()
            and self.plain[right].isdigit()
        )

    def _same_token(self, left: int, right: int) -> bool:
        """Both positions exist, lie in one word and no whitespace separates them there."""
        if left < 0 or right >= len(self.plain) or self.word_of[left] != self.word_of[right]:
            return False
        source = self.words[self.word_of[left]].text
        return not any(
            char.isspace() for char in source[self.offset_of[left] : self.offset_of[right]]
        )


def _overlaps(band: tuple[float, float], box: Box) -> bool:
    overlap = min(band[1], box.y1) - max(band[0], box.y0)
    return overlap >= 0.5 * min(band[1] - band[0], box.y1 - box.y0) and overlap > 0


def _occurrences(
    query: _Query, stream: _Stream, min_score: float
) -> list[tuple[tuple[int, int], float]]:
    """Distinct scored spans >= min_score, best first; overlapping spans keep the best."""
    if len(query.plain) <= _SHORT:
        spans = _whole_tokens(query, stream)
    else:
        exact = _exact_spans(query, stream)
        spans = exact | _fuzzy_spans(query, stream, min_score, exact)
    scored = [(span, _score(query, stream, span)) for span in spans]
    scored.sort(key=lambda item: (-item[1], item[0]))
    kept: list[tuple[tuple[int, int], float]] = []
    for span, score in scored:
        if score >= min_score and not any(_intersect(span, other) for other, _ in kept):
            kept.append((span, score))
    return kept


def _intersect(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _whole_tokens(query: _Query, stream: _Stream) -> set[tuple[int, int]]:
    """Spans of the words that spell a short text exactly: "1" must not be found in "12"."""
    return {span for span in _find_all(stream.plain, query.plain) if stream.is_one_word(*span)}


def _exact_spans(query: _Query, stream: _Stream) -> set[tuple[int, int]]:
    """Every exact occurrence after folding: str.find is cheap and misses none."""
    return set(_find_all(stream.folded, query.folded))


def _find_all(text: str, needle: str) -> list[tuple[int, int]]:
    spans = []
    start = text.find(needle)
    while start >= 0:
        spans.append((start, start + len(needle)))
        start = text.find(needle, start + 1)
    return spans


def _fuzzy_spans(
    query: _Query, stream: _Stream, min_score: float, exact: set[tuple[int, int]]
) -> set[tuple[int, int]]:
    """Approximate occurrences: the best alignment inside overlapping stream windows.

    Windows of 2L + slack characters start every L characters, so every substring of
    about the query's length L lies wholly inside one of them; rapidfuzz aligns the query
    in each window in C, and only windows scoring above the cut-off are refined. Exact
    occurrences are blanked out first, or they would win every window they fall in and
    hide a misread copy beside them.

    Every alignment is judged over the query's whole length, as rapidfuzz judges it in a
    window's middle. At a window's edge rapidfuzz also scores a shorter part of the query
    against the text up to the edge, so "TOTAL" opening a page, or a window cut just after
    it, would pass for "SUBTOTAL" (5 of 8 characters, 77%). The stream is padded with NULs,
    which match nothing, so its first and last characters are judged like the rest.
    """
    length = len(query.folded)
    slack = max(2, length // 5)
    cutoff = min_score * 100
    text = "\0" * length + _blank(stream.folded, exact) + "\0" * length
    spans: set[tuple[int, int]] = set()
    for start in range(0, len(text) - 2 * length + 1, length):
        window = text[start : start + 2 * length + slack]
        found = fuzz.partial_ratio_alignment(query.folded, window, score_cutoff=cutoff)
        if found is None:
            continue
        first, last = _whole_length(found, length)
        if fuzz.ratio(query.folded, text[start + first : start + last]) >= cutoff:
            offset = start - length
            span = (max(0, offset + first), min(len(stream.folded), offset + last))
            spans.add(_refine(query, stream, span))
    return spans


def _whole_length(found: ScoreAlignment, length: int) -> tuple[int, int]:
    """The query-long stretch that an alignment stands for: a shorter one at a window's
    start is stretched back over what precedes the window, one at its end forward."""
    if found.dest_end - found.dest_start >= length:
        return found.dest_start, found.dest_end
    if found.dest_start == 0:
        return found.dest_end - length, found.dest_end
    return found.dest_start, found.dest_start + length


def _blank(text: str, spans: set[tuple[int, int]]) -> str:
    """`text` with the characters of `spans` replaced by NUL, which no real text contains."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = "\0" * (end - start)
    return "".join(chars)


def _refine(query: _Query, stream: _Stream, span: tuple[int, int]) -> tuple[int, int]:
    """Stretch or shrink a fixed-length alignment by up to two characters at each end.

    partial_ratio aligns substrings of the query's length; an OCR insertion or deletion
    needs a span a little longer or shorter to line up fully. The full score judges, so a
    span that stops short of a misread digit does not win by cutting the number.
    """
    start, end = span
    candidates = [
        (start + ds, end + de)
        for ds in range(-2, 3)
        for de in range(-2, 3)
        if 0 <= start + ds < end + de <= len(stream.plain)
    ]
    return max(candidates, key=lambda c: (_score(query, stream, c), -abs(c[0] - start)))


def _score(query: _Query, stream: _Stream, span: tuple[int, int]) -> float:
    """Match quality 0..1: 1 only for an exact match that respects token boundaries.

    Similarity on the folded form, nudged down for OCR confusions (plain form), scaled by
    the share of the query's digits that the match gets right (numbers are identities:
    9.50 is not 9.00, one misread digit in an 8-digit date still counts), and cut when the
    span splits a number or word.
    """
    start, end = span
    folded = fuzz.ratio(query.folded, stream.folded[start:end]) / 100
    plain = fuzz.ratio(query.plain, stream.plain[start:end]) / 100
    score = _FOLDED_WEIGHT * folded + (1 - _FOLDED_WEIGHT) * plain
    if query.digits:
        digits = "".join(char for char in stream.folded[start:end] if char.isdigit())
        errors = Levenshtein.distance(query.digits, digits)
        score *= max(0.0, 1 - errors / len(query.digits))
    if stream.cuts_run(start, end):
        score *= _BOUNDARY_FACTOR
    return round(score, 4)


def _crop(word: Word, first: int, last: int) -> Box:
    """The part of a word's box under source characters first..last, by character share."""
    text = word.text
    if not text[:first].strip() and not text[last + 1 :].strip():
        return word.box
    box = word.box
    width = box.x1 - box.x0
    return Box(
        box.page,
        box.x0 + width * first / len(text),
        box.y0,
        box.x0 + width * (last + 1) / len(text),
        box.y1,
    )


def _rank(
    found: list[tuple[Grounding, tuple[int, float, float]]], near: Box | None
) -> list[Grounding]:
    """Best first: by score; among near-equal scores, nearest to `near`, then one that stays
    in its column, then reading order."""
    remaining = sorted(found, key=lambda item: (-item[0].score, item[1]))
    ranked: list[Grounding] = []
    while remaining:
        top = remaining[0][0].score
        tier = [item for item in remaining if item[0].score >= top - _NEAR_EQUAL]
        remaining = [item for item in remaining if item[0].score < top - _NEAR_EQUAL]
        tier.sort(key=lambda item: (_distance(item[0], near), _jumps(item[0]), item[1]))
        ranked.extend(grounding for grounding, _ in tier)
    return ranked


def _jumps(grounding: Grounding) -> bool:
    """Whether the match continues on a next line that is not under it (another column's
    words): between equal matches, the one that stays in its column is the cell."""
    return any(
        min(a.x1, b.x1) <= max(a.x0, b.x0)
        for a, b in zip(grounding.boxes, grounding.boxes[1:], strict=False)
    )


def _distance(grounding: Grounding, near: Box | None) -> tuple[bool, bool, float]:
    """(off the hint's page, off the hint's line, gap to the hint): smaller is nearer.

    A value sits on its label's line far more often than anywhere else, and normalised
    gaps are not comparable across axes (x is scaled by width, y by height), so sharing
    the hint's line comes before the gap.
    """
    if near is None:
        return (False, False, 0.0)
    if grounding.page != near.page:
        return (True, True, 0.0)
    return min(
        (False, not _overlaps((near.y0, near.y1), box), _gap(box, near)) for box in grounding.boxes
    )


def _gap(a: Box, b: Box) -> float:
    dx = max(0.0, a.x0 - b.x1, b.x0 - a.x1)
    dy = max(0.0, a.y0 - b.y1, b.y0 - a.y1)
    return math.hypot(dx, dy)
