"""OCR of page images with RapidOCR (PP-OCR detection + recognition on onnxruntime).

RapidOCR runs offline (its models ship in the wheel) and on CPU, which a worker on the
"ingest" queue needs. Building the engine loads its ONNX models, so it is built once per
process, lazily, and reused. RapidOCR gives each recognised character its box; the spaces
between words are placed from the page's ink (`pipeline.ocr_spacing`: the recogniser drops
many printed ones), and the characters are merged into words. A line whose character boxes
are missing or do not match its text is kept as one `Word` with the line's box.

Settings chosen by measurement (`bench/ocr.py`, figures in docs/ingest.md) rather than
RapidOCR's defaults:
- detection on the page scaled to DET_LONG_SIDE pixels on its long side. The defaults
  scale the short side up to 736 (a receipt becomes 1600 px tall) or keep an A4 page whole;
  lines are as well found at 960, in well under half the time. A scan larger than
  LARGE_SCAN pixels (RapidOCR shrinks it to that size first: an A4 page over 170 DPI)
  prints its text small relative to the page, and at 960 px its thin strokes vanish (a
  lone "1", a colon): it is detected at DET_LONG_SIDE_LARGE_SCAN;
- recognition of each line alone, at its own width. RapidOCR's defaults pad every line
  to at least 320 px wide (6.7x the 48 px line height) and to the widest line of its batch
  of 6; a receipt's lines are mostly short ("RM", "1.00"), so most of what the recogniser
  read was padding. Reading each line unpadded takes 0.71x the time for the same words
  (recall -0.002 on the receipts, no change on printed pages), and a line's reading no
  longer depends on which lines share its batch;
- no angle classifier on upright pages (almost all of them). A page read with a mean line
  confidence under POOR_CONFIDENCE is read again with it, and the better reading is kept:
  that is what a page turned 90 or 180 degrees looks like (0.70-0.76 against 0.95 and up
  for upright receipts);
- onnxruntime threads = the cores the process is given (OMP_NUM_THREADS, which workers set
  per process, else the CPUs it may run on): onnxruntime ignores OMP_NUM_THREADS, and by
  default two worker processes would each start a thread per core.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from pipeline.ocr_spacing import respace
from pipeline.types import Box, Word

logger = logging.getLogger(__name__)

MIN_TEXT_PIXELS = 16  # no legible line of text fits in fewer pixels
MIN_INK_CONTRAST = 48  # grey levels between the darkest and the lightest pixel
DET_LONG_SIDE = 960
DET_LONG_SIDE_LARGE_SCAN = 1600
LARGE_SCAN = 2000  # px on the long side; RapidOCR's Global.max_side_len
REC_LINE_HEIGHT = 48  # the recogniser's input height (PP-OCR)
POOR_CONFIDENCE = 0.85  # mean line confidence below which a page reads poorly
FEW_WORDS = 3  # an OCR page with fewer words than this was not really read
SETTINGS = {
    "Global.log_level": "warning",
    "Global.use_cls": False,
    "Det.limit_type": "max",
    "Det.limit_side_len": DET_LONG_SIDE,
    "Rec.rec_batch_num": 1,
    "Rec.rec_img_shape": [3, REC_LINE_HEIGHT, REC_LINE_HEIGHT],  # no padding to 320 px
}
CHARACTER_BOXES = {
    "use_det": True,
    "use_rec": True,
    "return_word_box": True,
    "return_single_char_box": True,
}
# RapidOCR keeps each call's switches (use_cls...) on the engine: one call at a time.
_engine_lock = threading.Lock()


def compute_threads() -> int:
    """The cores this process may use: OMP_NUM_THREADS when set, else its CPUs."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@lru_cache(maxsize=4)
def ocr_engine(threads: int, det_long_side: int = DET_LONG_SIDE) -> Any:
    """The process-wide RapidOCR engine for `threads` compute threads and detection at
    `det_long_side` pixels, built on first use."""
    return build_engine({**SETTINGS, "Det.limit_side_len": det_long_side}, threads)


def page_engine(pixels: np.ndarray, threads: int) -> Any:
    """The engine for a page: detection at a finer scale for a large scan."""
    large = max(pixels.shape[:2]) > LARGE_SCAN
    return ocr_engine(threads, DET_LONG_SIDE_LARGE_SCAN if large else DET_LONG_SIDE)


def build_engine(settings: dict[str, Any], threads: int) -> Any:
    """A RapidOCR engine with `settings` over its defaults, on `threads` compute threads."""
    from rapidocr import RapidOCR  # imported here: it pulls in cv2 and onnxruntime

    logger.info("building the OCR engine: RapidOCR (PP-OCR det + rec, onnxruntime, CPU)")
    return RapidOCR(
        params={
            **settings,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )


def has_ink(image: Image.Image) -> bool:
    """Whether OCR could find anything: not on an image too small to hold a line of text,
    nor on one of a single tone (a blank page, a flat colour). OCR of such a page costs as
    much as of a full one: RapidOCR scales small images up to its working size."""
    if min(image.size) < MIN_TEXT_PIXELS:
        return False
    grey = np.asarray(image.convert("L"))
    return int(grey.max()) - int(grey.min()) >= MIN_INK_CONTRAST


def ocr_image(image: Image.Image, page_index: int) -> list[Word]:
    """Recognise the words on an RGB page image; boxes normalised to the image."""
    pixels = np.asarray(image)
    return words_of(read_page(pixels, page_engine(pixels, compute_threads())), page_index, pixels)


def words_of(result: Any, page_index: int, pixels: np.ndarray) -> list[Word]:
    """The words of a RapidOCR result for the RGB page `pixels`, spaced as the page shows."""
    if not result.txts:
        return []
    height, width = pixels.shape[:2]
    words: list[Word] = []
    for line_index, text in enumerate(result.txts):
        parts = _word_parts(result.word_results, line_index)
        polygon = result.boxes[line_index]
        spaced = respace(pixels, text, [poly for *_, poly in parts], polygon)
        line = _Line(spaced, float(result.scores[line_index]), polygon)
        words.extend(line.words(parts, page_index, width, height))
    return words


def read_page(pixels: np.ndarray, engine: Any) -> Any:
    """RapidOCR's reading of a page: upright first; a page that reads poorly is read again
    with the angle classifier (turned pages), keeping the more confident reading. Each
    character comes with its box, which `words_of` needs to place spaces."""
    with _engine_lock:
        result = engine(pixels, use_cls=False, **CHARACTER_BOXES)
        if mean_confidence(result.scores) >= POOR_CONFIDENCE:
            return result
        turned = engine(pixels, use_cls=True, **CHARACTER_BOXES)
    return turned if mean_confidence(turned.scores) > mean_confidence(result.scores) else result


def mean_confidence(scores: Sequence[float] | None) -> float:
    """Mean recognition confidence, 0 when nothing was read."""
    return float(statistics.fmean(scores)) if scores else 0.0


def word_confidence(words: Sequence[Word]) -> float | None:
    """Mean recognition confidence of a page's words; None when none carries one."""
    scores = [word.confidence for word in words if word.confidence is not None]
    return mean_confidence(scores) if scores else None


def reads_poorly(words: Sequence[Word]) -> bool:
    """Whether OCR's words for a page deserve a person's eye: hardly any, or unsure ones."""
    return len(words) < FEW_WORDS or (word_confidence(words) or 0.0) < POOR_CONFIDENCE


class _Line:
    """One recognised text line: its text, confidence and 4-point polygon in pixels."""

    def __init__(self, text: str, score: float, polygon: Sequence[Sequence[float]]):
        self.text = text
        self.score = score
        self.polygon = polygon

    def words(self, parts: list[tuple], page: int, width: int, height: int) -> list[Word]:
        """Split into words when the word boxes spell the line, else keep the whole line."""
        if parts and _parts_spell(parts, self.text):
            return [
                Word(text, _polygon_box(poly, page, width, height), float(score))
                for text, score, poly in _regroup(parts, self.text)
                if text.strip()
            ]
        if not self.text.strip():
            return []
        return [
            Word(self.text.strip(), _polygon_box(self.polygon, page, width, height), self.score)
        ]


def _word_parts(word_results: Any, line_index: int) -> list[tuple]:
    """The (text, score, polygon) word entries of one line, or [] when unavailable."""
    try:
        parts = list(word_results[line_index])
    except (IndexError, TypeError):
        return []
    if any(len(part) != 3 or part[2] is None for part in parts):
        return []
    return parts


def _parts_spell(parts: list[tuple], line_text: str) -> bool:
    """Word entries are trusted only if, joined, they give the line's text back."""
    joined = "".join(str(text) for text, _, _ in parts)
    return joined.replace(" ", "") == line_text.replace(" ", "")


def _regroup(parts: list[tuple], line_text: str) -> list[tuple]:
    """Merge character-level parts back into the line's space-separated words.

    `read_page` asks RapidOCR for one part per character; words, not letters, are what
    grounding and extraction need. Parts already at word level pass unchanged.
    """
    grouped: list[tuple] = []
    pending: list[tuple] = []
    tokens = iter(line_text.split())
    token = next(tokens, "")
    for part in parts:
        pending.append(part)
        joined = "".join(str(text) for text, _, _ in pending)
        if joined == token:
            grouped.append(_merge(pending))
            pending, token = [], next(tokens, "")
        elif not token.startswith(joined):
            return parts  # parts cross word boundaries: keep RapidOCR's split
    return grouped if not pending else parts


def _merge(parts: list[tuple]) -> tuple:
    """One (text, score, polygon) from consecutive parts: their text, mean score (a line's
    score is its characters' mean too), hull."""
    if len(parts) == 1:
        return parts[0]
    points = np.concatenate(
        [np.asarray(poly, dtype=np.float64).reshape(-1, 2) for *_, poly in parts]
    )
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    hull = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    score = statistics.fmean(float(s) for _, s, _ in parts)
    return "".join(str(text) for text, _, _ in parts), score, hull


def _polygon_box(polygon: Sequence[Sequence[float]], page: int, width: int, height: int) -> Box:
    points = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return Box.from_pixels(page, x0, y0, x1, y1, width, height)
