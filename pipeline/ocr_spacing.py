"""Spaces between OCR'd words from the page's ink rather than from the recogniser's guess.

PP-OCR's recogniser reads a space as one more character it has learnt to expect, and on
receipts it drops many that are printed: "TEL : 03-7731 8169" comes back "TEL:03-7731 8169",
"5.00 SR" as "5.00SR". A dropped space costs two words, not a character. The page itself
says where the spaces are: every recognised character has a position along its line (its
CTC column), and a printed space is a blank stretch between two characters, wider than the
gaps between letters. Over the 30 development receipts the blank between two characters
the recogniser read as one word is under 0.3 of the line's height 99% of the time (the rest
are mostly the missed spaces), and a printed space is wider than that in more than half of
the cases. So a space is added where the blank reaches SPACE_BLANK of the line's height.
The recogniser's own spaces are kept: they are missed far more often than invented.

Typography marks some blanks as no space: none goes before "." or "," (a thermal printer's
"9 .60" is the decimal "9.60") nor after a separator between two digits ("1. 7002").
Lines the recogniser reads as Chinese or Japanese (which print no spaces), lines whose
characters have no positions, and skewed lines (where a box's columns mix two lines' ink)
keep the recogniser's text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPACE_BLANK = 0.3  # of the line box's height: the narrowest blank read as a space
INK_BAND = 0.15  # of the box's height left out at top and bottom: a neighbour line's ink
MAX_SKEW = 1 / 30  # rise over run of a line's box beyond which its columns are not its own
MIN_CONTRAST = 40  # grey levels between ink and paper below which a box has no clear ink
SEPARATORS = ".,"
CJK_START = 0x2E80  # the first code point of the CJK radicals: scripts without spaces

Polygon = Sequence[Sequence[float]]


def respace(pixels: np.ndarray, text: str, chars: Sequence[Polygon], line: Polygon) -> str:
    """`text` with a space wherever the page shows one between two of its characters.

    `pixels` is the RGB page, `chars` the polygons of `text`'s characters other than
    spaces (in reading order), `line` the line's polygon, all in the page's pixels.
    """
    letters = [char for char in text if not char.isspace()]
    if len(letters) != len(chars) or len(letters) < 2 or _spaceless_script(letters):
        return text
    centres = [_centre_x(polygon) for polygon in chars]
    ink = _ink_columns(pixels, line)
    if ink is None or any(b <= a for a, b in zip(centres, centres[1:], strict=False)):
        return text
    columns, left, height = ink
    spaced = _spaces_read(text)
    out = [letters[0]]
    for k in range(1, len(letters)):
        blank = _widest_blank(columns, int(centres[k - 1]) - left, int(centres[k]) - left)
        if spaced[k - 1] or (blank >= SPACE_BLANK * height and _may_part(letters, k)):
            out.append(" ")
        out.append(letters[k])
    return "".join(out)


def _spaceless_script(letters: Sequence[str]) -> bool:
    return any(ord(char) >= CJK_START for char in letters)


def _centre_x(polygon: Polygon) -> float:
    xs = [point[0] for point in polygon]
    return (min(xs) + max(xs)) / 2


def _spaces_read(text: str) -> list[bool]:
    """For each character other than a space, whether the recogniser read a space after it."""
    spaced: list[bool] = []
    for char in text:
        if not char.isspace():
            spaced.append(False)
        elif spaced:
            spaced[-1] = True
    return spaced


def _ink_columns(pixels: np.ndarray, line: Polygon) -> tuple[np.ndarray, int, int] | None:
    """Which pixel columns of the line's box hold ink (in the box's middle rows), the page
    column of the first, and the box's height; None for a skewed box or one without clear
    ink."""
    import cv2  # here, not at the top: it takes 0.3 s to import, and only OCR needs it

    points = np.asarray(line, dtype=np.float64).reshape(-1, 2)
    if _skew(points) > MAX_SKEW:
        return None
    x0, y0 = np.maximum(points.min(axis=0), 0).astype(int)
    x1, y1 = points.max(axis=0).astype(int)
    box = pixels[y0:y1, x0:x1]
    if box.size == 0:
        return None
    grey = cv2.cvtColor(np.ascontiguousarray(box), cv2.COLOR_RGB2GRAY)
    if int(grey.max()) - int(grey.min()) < MIN_CONTRAST:
        return None
    _, ink = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    height = grey.shape[0]
    margin = int(height * INK_BAND)
    columns = np.any(ink[margin : height - margin], axis=0)
    return np.asarray(columns), int(x0), height


def _skew(points: np.ndarray) -> float:
    """Rise over run of the polygon's top edge (its first two points)."""
    (ax, ay), (bx, by) = points[0], points[1]
    return abs(by - ay) / max(abs(bx - ax), 1.0)


def _widest_blank(columns: np.ndarray, start: int, stop: int) -> int:
    """The longest run of columns without ink in columns[start:stop]."""
    window = columns[max(start, 0) : max(stop, 0)]
    inked = np.flatnonzero(window)
    edges = np.concatenate(([-1], inked, [len(window)]))
    return int((np.diff(edges) - 1).max())


def _may_part(letters: Sequence[str], k: int) -> bool:
    """Whether typography allows a space before letters[k]: none before a separator, none
    after a separator between two digits."""
    if letters[k] in SEPARATORS:
        return False
    between_digits = k >= 2 and letters[k - 2].isdigit() and letters[k].isdigit()
    return not (letters[k - 1] in SEPARATORS and between_digits)
