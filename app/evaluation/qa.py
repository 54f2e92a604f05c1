"""Question-answering sets: documents, questions and the answers accepted for each, scored
the way DocVQA is, by ANLS and exact match.

A QA folder holds `qa.jsonl`, one question per line, beside the documents it names:

    {"file": "docs/invoice.pdf", "question": "What is the total?", "answers": ["89.28"], "page": 0}

`file` is relative to the folder (a PDF or a page image); `answers` lists every accepted
answer; `page` (0-based, optional) asks about that page only. It measures any engine or
setting on any such set, e.g. the `default` and `document` fusion profiles
(`DOCFUSE_FUSION_PROFILE`) once Florence-VL's weights are present.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import Levenshtein

QA_FILE = "qa.jsonl"
ANLS_THRESHOLD = 0.5  # DocVQA's: a reading further off than this scores 0


@dataclass(frozen=True)
class QaItem:
    question: str
    answers: tuple[str, ...]
    page: int | None


def load_qa(folder: Path) -> dict[Path, list[QaItem]]:
    """The questions of `folder/qa.jsonl`, by document, in file order; a bad line is an
    error that names the line and what is wrong with it."""
    path = folder / QA_FILE
    if not path.is_file():
        raise ValueError(f"{folder}: no {QA_FILE}, is this a QA folder?")
    items: dict[Path, list[QaItem]] = defaultdict(list)
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if line.strip():
            document, item = _parse(folder, line, f"{path}:{number}")
            items[document].append(item)
    if not items:
        raise ValueError(f"{path}: no questions")
    return dict(items)


def _parse(folder: Path, line: str, where: str) -> tuple[Path, QaItem]:
    try:
        entry = json.loads(line)
        document = folder / entry["file"]
        answers = tuple(str(answer) for answer in entry["answers"])
        item = QaItem(str(entry["question"]), answers, entry.get("page"))
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{where}: not a QA line ({type(error).__name__}: {error})") from None
    if not document.is_file():
        raise ValueError(f"{where}: {entry['file']} does not exist")
    if not answers or (item.page is not None and not isinstance(item.page, int)):
        raise ValueError(f"{where}: needs one answer or more, and a whole page number if any")
    return document, item


def anls(predicted: str, answers: tuple[str, ...]) -> float:
    """Average normalised Levenshtein similarity for one question: the best similarity to
    an accepted answer, 0 when even the best is further off than ANLS_THRESHOLD."""
    said = _plain(predicted)
    best = max(Levenshtein.normalized_similarity(said, _plain(answer)) for answer in answers)
    return best if 1.0 - best < ANLS_THRESHOLD else 0.0


def exact_match(predicted: str, answers: tuple[str, ...]) -> bool:
    return _plain(predicted) in {_plain(answer) for answer in answers}


def _plain(text: str) -> str:
    """Case and runs of spaces do not count, as in DocVQA's scoring."""
    return " ".join(text.casefold().split())
