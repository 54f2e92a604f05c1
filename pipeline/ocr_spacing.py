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
Each line's box is cut out and turned level first (as RapidOCR does before recognising
it), so the lines of a skewed scan are measured along their own slope. Lines the
recogniser reads as Chinese or Japanese (which print no spaces), vertical lines (their
characters do not follow one another along the box) and lines whose characters have no
positions keep the recogniser's text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPACE_BLANK = 0.3  # of the line box's height: the narrowest blank read as a space
INK_BAND = 0.15  # of the box's height left out at top and bottom: a neighbour line's ink
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
    blanks = _blanks_between(pixels, chars, line)
    if blanks is None:
        return text
    spaced = _spaces_read(text)
    out = [letters[0]]
    for k in range(1, len(letters)):
        if spaced[k - 1] or (blanks[k - 1] >= SPACE_BLANK and _may_part(letters, k)):
            out.append(" ")
        out.append(letters[k])
    return "".join(out)


def _blanks_between(
    pixels: np.ndarray, chars: Sequence[Polygon], line: Polygon
) -> list[float] | None:
    """The widest blank between each two neighbouring characters, in heights of the line's
    box; None where the box cannot be measured (too flat, no clear ink, characters out of
    order along it, as a vertical line's are)."""
    box = _straightened(pixels, line)
    if box is None:
        return None
    grey, to_box = box
    columns = _ink_columns(grey)
    centres = _columns_of(chars, to_box)
    if columns is None or any(b <= a for a, b in zip(centres, centres[1:], strict=False)):
        return None
    height = grey.shape[0]
    return [
        _widest_blank(columns, int(a), int(b)) / height
        for a, b in zip(centres, centres[1:], strict=False)
    ]


def _spaceless_script(letters: Sequence[str]) -> bool:
    return any(ord(char) >= CJK_START for char in letters)


def _spaces_read(text: str) -> list[bool]:
    """For each character other than a space, whether the recogniser read a space after it."""
    spaced: list[bool] = []
    for char in text:
        if not char.isspace():
            spaced.append(False)
        elif spaced:
            spaced[-1] = True
    return spaced


def _straightened(pixels: np.ndarray, line: Polygon) -> tuple[np.ndarray, np.ndarray] | None:
    """The line's box cut from the page and turned level, in grey levels, and the transform
    from page to box; None for a box too flat to hold a line."""
    import cv2  # here, not at the top: it takes 0.3 s to import, and only OCR needs it

    corners = np.asarray(line, dtype=np.float32).reshape(4, 2)
    sides = np.linalg.norm(corners - np.roll(corners, -1, axis=0), axis=1)  # top, right, ...
    width, height = int(max(sides[0], sides[2])), int(max(sides[1], sides[3]))
    if height < 2:
        return None
    level = np.asarray([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    to_box = cv2.getPerspectiveTransform(corners, level)
    box = cv2.warpPerspective(pixels, to_box, (width, height), borderMode=cv2.BORDER_REPLICATE)
    return cv2.cvtColor(box, cv2.COLOR_RGB2GRAY), to_box


def _columns_of(chars: Sequence[Polygon], to_box: np.ndarray) -> list[float]:
    """Each character's centre as a column of the straightened box."""
    import cv2

    centres = np.asarray(
        [np.asarray(polygon, dtype=np.float32).reshape(-1, 2).mean(axis=0) for polygon in chars],
        dtype=np.float32,
    )
    return [float(x) for x, _ in cv2.perspectiveTransform(centres[None], to_box)[0]]


def _ink_columns(grey: np.ndarray) -> np.ndarray | None:
    """Which columns of a straightened line box hold ink in its middle rows; None for a box
    without clear ink."""
    import cv2

    if int(grey.max()) - int(grey.min()) < MIN_CONTRAST:
        return None
    _, ink = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    margin = int(grey.shape[0] * INK_BAND)
    return np.asarray(np.any(ink[margin : grey.shape[0] - margin], axis=0))


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
