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

from rapidfuzz import fuzz

from pipeline.layout import Line
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
    key_tokens = [t for t in (norm_token(part) for part in key.split()) if t]
    if not key_tokens:
        return []
    hits = []
    for index, line in enumerate(lines):
        hit = _best_hit_in_line(lines, index, line, key_tokens)
        if hit is not None:
            hits.append(hit)
    return sorted(hits, key=lambda hit: -hit.score)


def _best_hit_in_line(
    lines: Sequence[Line], index: int, line: Line, key_tokens: list[str]
) -> KeyHit | None:
    parts = _line_tokens(line)
    target = "".join(key_tokens)
    best: KeyHit | None = None
    for start in range(len(parts)):
        for width in (len(key_tokens) - 1, len(key_tokens), len(key_tokens) + 1):
            if width < 1 or start + width > len(parts):
                continue
            window = "".join(token for token, _ in parts[start : start + width])
            if len(window) < len(target) - MAX_MISSING_CHARS:
                continue  # a key with a word missing ("Rechnung" for "Rechnung an")
            score = fuzz.ratio(window, target) if window else 0.0
            if score < MIN_KEY_SCORE or (best is not None and score <= best.score * 100):
                continue
            first, last = parts[start][1], parts[start + width - 1][1]
            key_words = line.words[first : last + 1]
            value = _value_words(lines, index, line.words[last + 1 :], key_words)
            best = KeyHit(index, key_words, value, score / 100, line.words[:first])
    return best


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
    """Words after the key on its line; else the next line's words under the key."""
    rest = [word for word in rest if norm_token(word.text) or has_digit(word.text)]
    if rest:
        return rest
    if index + 1 >= len(lines):
        return []
    left, right = key_words[0].box.x0, key_words[-1].box.x1
    below = lines[index + 1].words
    return [word for word in below if word.box.x1 > left and word.box.x0 < right + 0.5]


def has_digit(text: str) -> bool:
    return any(char.isdigit() for char in text)
