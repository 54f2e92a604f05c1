"""OCR quality on real scanned receipts (SROIE), scored against line transcripts with boxes.

Words are assigned to ground-truth lines by box centre, so a wrong box geometry shows up as
a high error rate as surely as wrong text does. Figures measured on the dev set (all 30
receipts, see docs/ingest.md) leave the thresholds below with a margin.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.evaluation.ocr_metrics import character_error_rate, load_sroie_lines, word_recall
from pipeline.pages import open_document
from pipeline.types import TextSource

SAMPLE_EVERY = 6  # 5 of the 30 receipts, spread over the set
MAX_MEAN_CER = 0.05  # measured 0.028 on this sample
MAX_RECEIPT_CER = 0.15  # worst receipt of the sample measured 0.081
MIN_MEAN_WORD_RECALL = 0.85  # measured 0.918


@pytest.fixture(scope="module")
def scores(shared_data: Path) -> list[tuple[str, float, float]]:
    """(receipt id, CER, word recall) for the sampled receipts."""
    root = shared_data / "sroie-dev"
    with (root / "manifest.tsv").open(newline="") as manifest:
        rows = list(csv.DictReader(manifest, delimiter="\t"))[::SAMPLE_EVERY]
    results = []
    for row in rows:
        with open_document((root / row["image"]).read_bytes()) as document:
            (page,) = document.pages()
        assert page.text_source is TextSource.OCR
        truth = load_sroie_lines(root / row["box_csv"], page.width, page.height)
        results.append(
            (row["id"], character_error_rate(page.words, truth), word_recall(page.words, truth))
        )
    return results


def test_sample_is_five_receipts(scores: list[tuple[str, float, float]]) -> None:
    assert len(scores) == 5


def test_character_error_rate(scores: list[tuple[str, float, float]]) -> None:
    cers = [cer for _, cer, _ in scores]
    assert sum(cers) / len(cers) < MAX_MEAN_CER, scores
    assert max(cers) < MAX_RECEIPT_CER, scores


def test_word_recall(scores: list[tuple[str, float, float]]) -> None:
    recalls = [recall for _, _, recall in scores]
    assert sum(recalls) / len(recalls) > MIN_MEAN_WORD_RECALL, scores
