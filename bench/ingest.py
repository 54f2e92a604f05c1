# ruff: noqa: E402 (the import path is fixed first, see below)
"""Ingest benchmark: pages/s for born-digital and scanned pages, and OCR quality on receipts.

Run from the repository root:  .venv/bin/python bench/ingest.py

* end to end: `docfuse ingest` of born-digital PDFs into a fresh SQLite database as the CLI
  does it (submit, claim, read, store, job done), pinned to one core, against raw PyMuPDF
  word extraction of the same files in the same run: the 10 ICDAR 2013 PDFs and 40
  generated contracts of 8 pages of running text;
* born-digital pages: the pipeline alone on the 10 ICDAR 2013 PDFs (open, check, text-layer
  words; pages with a text layer are not rendered), best of `--repeat` runs;
* OCR (`bench/ocr.py`): docfuse's OCR against RapidOCR's defaults on the same pages in the
  same run, seconds per page, word recall and character error rate, on the 30 scanned
  SROIE receipts and on rendered ICDAR pages.

Figures go to stdout with the machine they were measured on; docs/ingest.md records a run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder would come first on the import path, where bench/queue.py
# would shadow the standard library's `queue`: the repository root goes there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import os
import platform
import tempfile
import time

import onnxruntime
import pymupdf

from app.config import Settings
from app.db import open_database
from app.dispatch import Dispatcher
from app.services.ingest import submit_file
from app.services.payloads import IngestPayload
from bench.ocr import bench_ocr
from bench.synthetic import write_pdfs
from pipeline.pages import PageOptions, open_document
from pipeline.text_layer import extract_words
from pipeline.text_quality import reading_score

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def count_pages(paths: list[Path], options: PageOptions) -> int:
    """Open every document and produce all its pages; return how many there were."""
    pages = 0
    for path in paths:
        with open_document(path.read_bytes(), options) as document:
            pages += sum(1 for _ in document.pages())
    return pages


CONTRACT_CLAUSE = (
    "The Supplier shall deliver the Goods to the Customer at the address stated in the "
    "Order, in the quantities and at the prices agreed, no later than the delivery date. "
    "Title and risk pass on delivery; invoices are payable within thirty days of receipt."
)


def write_contracts(folder: Path, count: int, pages: int) -> list[Path]:
    """Born-digital contracts: `pages` pages of numbered clauses each (about 450 words)."""

    def fill(page: pymupdf.Page, number: int, page_number: int) -> None:
        text = "\n\n".join(
            f"{page_number + 1}.{clause} {CONTRACT_CLAUSE} (contract {number})"
            for clause in range(1, 10)
        )
        page.insert_textbox(pymupdf.Rect(60, 60, 535, 800), text, fontsize=10)

    return write_pdfs(folder, count, pages, "contract", fill)


def raw_words_seconds(paths: list[Path]) -> tuple[int, float]:
    """PyMuPDF alone: open each file and read every page's words (the floor for ingest)."""
    start, pages = time.perf_counter(), 0
    for path in paths:
        with pymupdf.open(path) as document:
            for page in document:
                page.get_text("words")
                pages += 1
    return pages, time.perf_counter() - start


def reading_check_seconds(paths: list[Path]) -> float:
    """The time docfuse spends judging what each page's text layer reads as (the check
    against layers that lie), on the words of every page of `paths`."""
    pages = []
    for path in paths:
        with pymupdf.open(path) as document:
            pages.extend(extract_words(page, page.number) for page in document)
    start = time.perf_counter()
    for words in pages:
        reading_score(words)
    return time.perf_counter() - start


def docfuse_ingest_seconds(paths: list[Path], scratch: Path) -> float:
    """docfuse's ingest as the CLI runs it without a broker, into a fresh SQLite database."""
    settings = Settings(_env_file=None, data_dir=scratch)
    sessions = open_database(settings)
    dispatcher = Dispatcher(settings, sessions)
    start = time.perf_counter()
    submissions = [
        submit_file(sessions=sessions, settings=settings, path=path, payload=IngestPayload())
        for path in paths
    ]
    dispatcher.send([submission.job_id for submission in submissions])
    return time.perf_counter() - start


def bench_end_to_end(data_dir: Path, repeat: int) -> None:
    """Born-digital ingest into the database against raw PyMuPDF, on one core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory(prefix="docfuse-bench-") as scratch:
        sets = {
            "ICDAR 2013 PDFs": sorted((data_dir / "icdar2013-dev").glob("*.pdf")),
            "generated contracts": write_contracts(Path(scratch) / "contracts", 40, 8),
        }
        for name, paths in sets.items():
            pages, raw = min((raw_words_seconds(paths) for _ in range(repeat)), key=lambda r: r[1])
            ours = min(
                docfuse_ingest_seconds(paths, Path(scratch) / f"db-{name}-{run}")
                for run in range(repeat)
            )
            judging = min(reading_check_seconds(paths) for _ in range(repeat))
            print(
                f"end to end, {name}: {pages} pages in {len(paths)} files on one core: "
                f"docfuse ingest {pages / ours:.0f} pages/s, raw PyMuPDF words "
                f"{pages / raw:.0f} pages/s (ratio {ours / raw:.2f}x the time; best of {repeat}); "
                f"judging what the text layers read as: {1000 * judging:.0f} ms of "
                f"{1000 * ours:.0f} ms, ingest takes {ours / (ours - judging):.3f}x the time "
                "it would without the check"
            )
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


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
    parser.add_argument("--skip-ocr", action="store_true", help="Skip the OCR comparison.")
    args = parser.parse_args()
    options = PageOptions(dpi=args.dpi)
    print_machine()
    bench_end_to_end(args.data_dir, args.repeat)
    bench_born_digital(args.data_dir, options, args.repeat)
    if not args.skip_ocr:
        bench_ocr(args.data_dir)


if __name__ == "__main__":
    main()
