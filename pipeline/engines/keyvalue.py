"""Key/value reading of a page's layout: find a printed key, take the value after it.

A key ("Total", "Invoice No.", "Bill to") is matched word by word against the lines of a
page, tolerating OCR noise (rapidfuzz) but never inside a longer word ("SUBTOTAL" is not
"TOTAL"). Its value is the rest of the line after the key, or, when nothing follows, the
words of the next line that sit under the key: the two layouts forms and receipts use.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz import fuzz, process

from pipeline.layout import Line, per_page
from pipeline.types import Word

MIN_KEY_SCORE = 85.0
# OCR drops a character now and then; a window shorter than that misses a word of the key.
MAX_MISSING_CHARS = 1
_PUNCT = re.compile(r"[^\w%&/#@$€£¥]+")


def norm_token(text: str) -> str:
    """Casefolded, NFKC, punctuation dropped: 'Date:' -> 'date', 'NO.' -> 'no'."""
    return _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True)
class KeyHit:
    """A key found on a line, and the value words that follow it."""

    line: int  # index in the page's lines
    key_words: list[Word]
    value_words: list[Word]
    score: float  # 0..1
    before_words: list[Word] = field(default_factory=list)  # on the line, before the key

    @property
    def key_text(self) -> str:
        return " ".join(word.text for word in self.key_words)


@dataclass(frozen=True)
class Found:
    """A value located on a page: its text, the words it came from, a 0..1 score."""

    text: str
    page: int
    words: list[Word]
    score: float
    final: bool = False  # read after a key naming the amount finally due ("Nett Total")


def page_of(words: Sequence[Word], fallback: int) -> int:
    """The page of the first word, or `fallback` when there are none."""
    return words[0].box.page if words else fallback


def find_keys(lines: Sequence[Line], key: str) -> list[KeyHit]:
    """Every place `key` is printed, best first, each with its value words."""
    return key_index(lines).find(key)


def key_index(lines: Sequence[Line]) -> KeyIndex:
    """The page's key index, built once per page when the lines can keep it."""
    return per_page(lines, "keys", KeyIndex)


class KeyIndex:
    """A page's lines as runs ("windows") of normalised tokens, so that a key is compared
    with every window of its width at once (rapidfuzz's cdist) and each key is looked up
    once per page, however many fields and candidates ask for it."""

    def __init__(self, lines: Sequence[Line]) -> None:
        self.lines = lines
        self.parts = [_line_tokens(line) for line in lines]
        self._windows: dict[int, tuple[list[tuple[int, int]], list[str]]] = {}
        self._found: dict[str, list[KeyHit]] = {}

    def find(self, key: str) -> list[KeyHit]:
        if key not in self._found:
            self._found[key] = self._search(key)
        return self._found[key]

    def _search(self, key: str) -> list[KeyHit]:
        """The best window per line (highest score; the leftmost, then the narrowest, of
        equals), among windows one token shorter than the key to one longer."""
        key_tokens = [t for t in (norm_token(part) for part in key.split()) if t]
        if not key_tokens:
            return []
        target = "".join(key_tokens)
        best: dict[int, tuple[tuple[float, int, int], int, int]] = {}
        widths = (len(key_tokens) - 1, len(key_tokens), len(key_tokens) + 1)
        for order, width in enumerate(widths):
            places, texts = self._windows_of(width)
            if not texts:
                continue
            scores = process.cdist(
                [target], texts, scorer=fuzz.ratio, score_cutoff=MIN_KEY_SCORE, dtype=np.float64
            )[0]
            for position in np.flatnonzero(scores):
                if len(texts[position]) < len(target) - MAX_MISSING_CHARS:
                    continue  # a key with a word missing ("Rechnung" for "Rechnung an")
                line, start = places[position]
                rank = (-float(scores[position]), start, order)
                if line not in best or rank < best[line][0]:
                    best[line] = (rank, start, width)
        hits = [
            self._hit(line, start, width, -rank[0])
            for line, (rank, start, width) in sorted(best.items())
        ]
        return sorted(hits, key=lambda hit: -hit.score)

    def _windows_of(self, width: int) -> tuple[list[tuple[int, int]], list[str]]:
        if width not in self._windows:
            places, texts = [], []
            for line, parts in enumerate(self.parts):
                for start in range(len(parts) - width + 1 if width > 0 else 0):
                    places.append((line, start))
                    texts.append("".join(token for token, _ in parts[start : start + width]))
            self._windows[width] = (places, texts)
        return self._windows[width]

    def _hit(self, index: int, start: int, width: int, score: float) -> KeyHit:
        line, parts = self.lines[index], self.parts[index]
        first, last = parts[start][1], parts[start + width - 1][1]
        key_words = line.words[first : last + 1]
        value = _value_words(self.lines, index, line.words[last + 1 :], key_words)
        return KeyHit(index, key_words, value, score / 100, line.words[:first])


RUN_IN_VALUE = re.compile(r":\w")
_WORD_SLASH = re.compile(r"(?<=[^\W\d_])/(?=[^\W\d_])")


def _line_tokens(line: Line) -> list[tuple[str, int]]:
    """The line's normalised tokens with the index of the word each comes from; a word of
    two names joined by a slash ("Käufer/Leistungsempfänger", "Date/Time") gives both."""
    return [
        (part, position)
        for position, word in enumerate(line.words)
        for part in _WORD_SLASH.split(norm_token(word.text))
        if part
    ]


def _value_words(
    lines: Sequence[Line], index: int, rest: list[Word], key_words: list[Word]
) -> list[Word]:
    """Words after the key on its line, up to the next form label; else the next line's
    words under the key, unless the key's word runs on into its value past a colon
    ("Customer:2": the line under it, "Your order AB321", is no customer)."""
    rest = [
        word for word in _up_to_next_label(rest) if norm_token(word.text) or has_digit(word.text)
    ]
    if rest or RUN_IN_VALUE.search(key_words[-1].text):
        return rest
    return words_under(lines, index, key_words, reach_right=BELOW_REACH)


def _up_to_next_label(words: list[Word]) -> list[Word]:
    """A value ends where another form field begins on its line: "TVA : FR11999999998 -
    SIRET : 99999999800010 - ... capital de 120 000,00 €" ends before "SIRET". The label is
    the word before a lone colon or a word ending in one, once a value with a digit has
    been read (a long key's own words come before its colon: "Total Sales (Inclusive of
    GST) : 6.36")."""
    for index, word in enumerate(words):
        label = index - 1 if word.text == ":" else index if word.text.endswith(":") else 0
        if label > 0 and any(has_digit(before.text) for before in words[:label]):
            return words[:label]
    return words


BELOW_REACH = 0.5  # a form's value under its key may run far to the right of it


def words_under(
    lines: Sequence[Line],
    index: int,
    key_words: Sequence[Word],
    *,
    reach_left: float = 0.0,
    reach_right: float = 0.0,
) -> list[Word]:
    """The words of the line after line `index` that overlap the key's span, widened by
    the reaches (shares of the page width)."""
    if index + 1 >= len(lines):
        return []
    left = key_words[0].box.x0 - reach_left
    right = key_words[-1].box.x1 + reach_right
    return [word for word in lines[index + 1].words if word.box.x1 > left and word.box.x0 < right]


def has_digit(text: str) -> bool:
    return any(char.isdigit() for char in text)


# A gap this wide (a share of the page's width, some four characters of body text) between
# two words of a value is a column boundary: the value ends there.
COLUMN_GAP = 0.04


def one_column(words: list[Word]) -> list[Word]:
    """The value's words up to the first column gap ("993548900   IBAN NL50..." ends at
    "993548900")."""
    for index in range(1, len(words)):
        if words[index].box.x0 - words[index - 1].box.x1 > COLUMN_GAP:
            return words[:index]
    return words


def column_cells(words: list[Word]) -> list[list[Word]]:
    """The line's words cut at every column gap."""
    cells = []
    while words:
        cells.append(one_column(words))
        words = words[len(cells[-1]) :]
    return cells
