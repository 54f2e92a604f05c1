"""Scores for OCR output against line-level ground truth (transcripts with boxes).

Ground truth such as SROIE's gives one box and transcript per text line, not per word, and
OCR may split or merge lines differently. So a line is scored on the OCR words whose centre
falls inside its box, joined in reading order: what an OCR engine read *there*, compared with
what is printed there. Comparison is case-insensitive with whitespace normalised, because
neither case nor spacing of the recogniser is what the metric is meant to judge.

Used by the pipeline tests, `bench/ingest.py` and the evaluation command, so it takes plain
`Word`/`Box` values and knows nothing of any data set beyond the loader.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from pipeline.layout import group_lines
from pipeline.types import Box, Word

logger = logging.getLogger(__name__)

GroundTruthLine = tuple[str, Box]


def normalise(text: str) -> str:
    """Case-fold and collapse runs of whitespace to one space."""
    return " ".join(text.casefold().split())


def character_error_rate(words: Sequence[Word], gt_lines: Sequence[GroundTruthLine]) -> float:
    """Total edit distance between each line's transcript and the OCR text read inside its box,
    divided by the total number of ground-truth characters (after normalisation)."""
    assigned = assign_words_to_lines(words, gt_lines)
    distance = 0
    total = 0
    for (transcript, _), line_words in zip(gt_lines, assigned, strict=True):
        reference = normalise(transcript)
        hypothesis = normalise(" ".join(word.text for word in reading_order(line_words)))
        distance += Levenshtein.distance(hypothesis, reference)
        total += len(reference)
    if total == 0:
        raise ValueError("ground truth has no characters to score against")
    return distance / total


def word_recall(words: Sequence[Word], gt_lines: Sequence[GroundTruthLine]) -> float:
    """Fraction of ground-truth words (whitespace tokens) found among the OCR words of the
    same page, each OCR token matching at most one ground-truth token."""
    available = Counter(
        (word.box.page, token) for word in words for token in normalise(word.text).split()
    )
    wanted = [(box.page, token) for text, box in gt_lines for token in normalise(text).split()]
    if not wanted:
        raise ValueError("ground truth has no words to score against")
    found = 0
    for key in wanted:
        if available[key] > 0:
            available[key] -= 1
            found += 1
    return found / len(wanted)


def assign_words_to_lines(
    words: Sequence[Word], gt_lines: Sequence[GroundTruthLine]
) -> list[list[Word]]:
    """For each ground-truth line, the words whose box centre lies inside the line's box.

    A word inside several (overlapping) line boxes goes to the smallest of them only, so no
    OCR text is counted twice.
    """
    assigned: list[list[Word]] = [[] for _ in gt_lines]
    for word in words:
        containing = [i for i, (_, box) in enumerate(gt_lines) if _contains_centre(box, word.box)]
        if containing:
            smallest = min(containing, key=lambda i: _area(gt_lines[i][1]))
            assigned[smallest].append(word)
    return assigned


def reading_order(words: Sequence[Word]) -> list[Word]:
    """The words line by line, top to bottom, each line left to right."""
    return [word for line in group_lines(words) for word in line.words]


def load_sroie_lines(
    csv_path: Path | str, width: int, height: int, page: int = 0
) -> list[GroundTruthLine]:
    """Read SROIE `x1,y1,x2,y2,x3,y3,x4,y4,TRANSCRIPT` rows (pixels of a `width` x `height`
    image; the transcript may contain commas) as normalised boxes on `page`."""
    lines = []
    text = Path(csv_path).read_text(encoding="utf-8-sig", errors="replace")
    for number, row in enumerate(text.splitlines(), start=1):
        if not row.strip():
            continue
        fields = row.split(",", 8)
        if len(fields) != 9:
            logger.warning("%s line %d: expected 8 coordinates and a text", csv_path, number)
            continue
        xs = [float(v) for v in fields[0:8:2]]
        ys = [float(v) for v in fields[1:8:2]]
        box = Box.from_pixels(page, min(xs), min(ys), max(xs), max(ys), width, height)
        lines.append((fields[8].strip(), box))
    return lines


def _contains_centre(outer: Box, inner: Box) -> bool:
    if outer.page != inner.page:
        return False
    cx, cy = (inner.x0 + inner.x1) / 2, (inner.y0 + inner.y1) / 2
    return outer.x0 <= cx <= outer.x1 and outer.y0 <= cy <= outer.y1


def _area(box: Box) -> float:
    return (box.x1 - box.x0) * (box.y1 - box.y0)
