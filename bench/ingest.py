"""Ingest benchmark: pages/s for born-digital and scanned pages, and OCR quality on receipts.

Run from the repository root:  .venv/bin/python bench/ingest.py

* born-digital: the 10 ICDAR 2013 PDFs (render at the DPI + text-layer words), best of
  `--repeat` runs, since nothing is cached between runs;
* scanned: the 30 SROIE receipts (decode + OCR), once, after a warm-up page that builds the
  OCR engine and loads its models (printed on its own: a worker pays it once per process);
* OCR quality over the same receipts: character error rate and word recall
  (`app.evaluation.ocr_metrics`), per receipt averaged, plus the worst receipt.

Figures go to stdout with the machine they were measured on; docs/ingest.md records a run.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import onnxruntime
import pymupdf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.evaluation.ocr_metrics import character_error_rate, load_sroie_lines, word_recall  # noqa: E402
from pipeline.pages import PageOptions, open_document  # noqa: E402

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def count_pages(paths: list[Path], options: PageOptions) -> int:
    """Open every document and produce all its pages; return how many there were."""
    pages = 0
    for path in paths:
        with open_document(path.read_bytes(), options) as document:
            pages += sum(1 for _ in document.pages())
    return pages


def bench_born_digital(data_dir: Path, options: PageOptions, repeat: int) -> None:
    pdfs = sorted((data_dir / "icdar2013-dev").glob("*.pdf"))
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        pages = count_pages(pdfs, options)
        best = min(best, time.perf_counter() - start)
    print(
        f"born-digital: {pages} pages of {len(pdfs)} PDFs at {options.dpi} DPI in {best:.2f} s "
        f"(best of {repeat}): {pages / best:.1f} pages/s"
    )


def bench_scanned(data_dir: Path, options: PageOptions) -> None:
    root = data_dir / "sroie-dev"
    with (root / "manifest.tsv").open(newline="") as manifest:
        rows = list(csv.DictReader(manifest, delimiter="\t"))
    start = time.perf_counter()
    with open_document((root / rows[0]["image"]).read_bytes(), options) as document:
        next(document.pages())  # RapidOCR loads its models on its first call
    print(f"OCR engine build + first page: {time.perf_counter() - start:.2f} s (once per process)")

    cers, recalls, elapsed = [], [], 0.0
    for row in rows:
        start = time.perf_counter()
        with open_document((root / row["image"]).read_bytes(), options) as document:
            (page,) = document.pages()
        elapsed += time.perf_counter() - start
        truth = load_sroie_lines(root / row["box_csv"], page.width, page.height)
        cers.append(character_error_rate(page.words, truth))
        recalls.append(word_recall(page.words, truth))
    print(
        f"scanned: {len(rows)} receipts (1 page each) in {elapsed:.2f} s: "
        f"{len(rows) / elapsed:.2f} pages/s"
    )
    worst = max(range(len(rows)), key=cers.__getitem__)
    print(
        f"OCR over sroie-dev: CER mean {statistics.mean(cers):.3f}, "
        f"median {statistics.median(cers):.3f}, worst {cers[worst]:.3f} "
        f"(receipt {rows[worst]['id']}); word recall mean {statistics.mean(recalls):.3f}"
    )


def print_machine() -> None:
    print(
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, PyMuPDF {pymupdf.__version__}, "
        f"onnxruntime {onnxruntime.__version__}"
    )
    # The figures scale with free CPU: say how busy the machine was when they were taken.
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--dpi", type=int, default=PageOptions().dpi)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    options = PageOptions(dpi=args.dpi)
    print_machine()
    bench_born_digital(args.data_dir, options, args.repeat)
    bench_scanned(args.data_dir, options)


if __name__ == "__main__":
    main()
