# ruff: noqa: E402 (the import path is fixed first, see below)
"""OCR benchmark: docfuse's OCR against RapidOCR's defaults on the same pages, in one run.

Run from the repository root:  .venv/bin/python bench/ocr.py   (bench/ingest.py runs it too)

Two sets of pages, each page read by both engines one after the other (so both see the
same machine), pinned to one core with one onnxruntime thread each:
* the 30 scanned SROIE receipts, scored against their line transcripts;
* the first page of each ICDAR 2013 PDF rendered at 150 DPI as an image (A4 with small
  print), scored against the words of its own text layer.
Prints per set: seconds per page for each and the ratio, word recall and character error
rate (`app.evaluation.ocr_metrics`), and the largest drop in one page's recall.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import csv
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymupdf
from PIL import Image

from app.evaluation.ocr_metrics import (
    GroundTruthLine,
    character_error_rate,
    load_sroie_lines,
    word_recall,
)
from pipeline.ocr import LARGE_SCAN, build_engine, page_engine, read_page, words_of
from pipeline.text_layer import extract_words

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
RENDER_DPI = 150

Sample = tuple[str, np.ndarray, list[GroundTruthLine]]


@dataclass
class Score:
    """One engine's time and quality over a set of pages."""

    seconds: float = 0.0
    recalls: list[float] = field(default_factory=list)
    cers: list[float] = field(default_factory=list)

    def add(self, seconds: float, words: list, truth: list[GroundTruthLine]) -> None:
        self.seconds += seconds
        self.recalls.append(word_recall(words, truth))
        self.cers.append(character_error_rate(words, truth))

    def line(self, pages: int) -> str:
        return (
            f"{self.seconds / pages:.2f} s/page, word recall {statistics.mean(self.recalls):.3f}, "
            f"CER {statistics.mean(self.cers):.3f}"
        )


def receipts(data_dir: Path) -> Iterator[Sample]:
    root = data_dir / "sroie-dev"
    with (root / "manifest.tsv").open(newline="") as manifest:
        for row in csv.DictReader(manifest, delimiter="\t"):
            image = Image.open(root / row["image"]).convert("RGB")
            truth = load_sroie_lines(root / row["box_csv"], image.width, image.height)
            yield row["id"], np.asarray(image), truth


def rendered_pages(data_dir: Path) -> Iterator[Sample]:
    for path in sorted((data_dir / "icdar2013-dev").glob("*.pdf")):
        with pymupdf.open(path) as document:
            page = document[0]
            truth = [(word.text, word.box) for word in extract_words(page, 0)]
            pixmap = page.get_pixmap(dpi=RENDER_DPI)
            image = np.frombuffer(pixmap.samples, np.uint8).reshape(pixmap.h, pixmap.w, 3)
        yield path.stem, image, truth


def timed(read: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = read(*args, **kwargs)
    return time.perf_counter() - start, result


def read_words(pixels: np.ndarray) -> list:
    """docfuse's OCR of one page on one thread, its own steps after RapidOCR's included."""
    return words_of(read_page(pixels, page_engine(pixels, 1)), 0, pixels)


def compare(name: str, samples: list[Sample], defaults: Any) -> None:
    """Both engines on every page of one set; prints the comparison."""
    theirs_score, ours_score = Score(), Score()
    for _, pixels, truth in samples:
        took, result = timed(defaults, pixels, return_word_box=True)
        theirs_score.add(took, words_of(result, 0, pixels), truth)
        took, words = timed(read_words, pixels)
        ours_score.add(took, words, truth)
    drops = [b - a for a, b in zip(ours_score.recalls, theirs_score.recalls, strict=True)]
    worst = max(range(len(samples)), key=drops.__getitem__)
    pages = len(samples)
    print(f"OCR, {name} ({pages} pages, one core):")
    print(f"  RapidOCR defaults: {theirs_score.line(pages)}")
    print(f"  docfuse:           {ours_score.line(pages)}")
    print(
        f"  docfuse takes {ours_score.seconds / theirs_score.seconds:.2f}x the time; largest "
        f"drop in one page's recall {drops[worst]:+.3f} ({samples[worst][0]})"
    )


def bench_ocr(data_dir: Path) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    defaults = build_engine({"Global.log_level": "warning"}, threads=1)
    sets = {
        "scanned receipts": list(receipts(data_dir)),
        f"ICDAR first pages rendered at {RENDER_DPI} DPI": list(rendered_pages(data_dir)),
    }
    warm = sets["scanned receipts"][0][1]
    took, _ = timed(read_words, warm)  # models load on the first call
    print(f"OCR engine, first page: {took:.2f} s (a worker pays it once per process)")
    for _, pixels, _ in sets["scanned receipts"]:  # the large-scan engine loads its own
        if max(pixels.shape[:2]) > LARGE_SCAN:
            read_words(pixels)
            break
    defaults(warm)
    for name, samples in sets.items():
        compare(name, samples, defaults)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    bench_ocr(parser.parse_args().data_dir)


if __name__ == "__main__":
    main()
