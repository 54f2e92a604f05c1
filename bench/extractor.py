# ruff: noqa: E402 (the import path is fixed first, see below)
"""Extractor benchmark: milliseconds per page for extraction itself (after OCR), one core.

Run from the repository root:  .venv/bin/python bench/extractor.py

On the 29 born-digital invoices of the development data (text-layer words read once, before
timing), every field of the built-in `invoice` schema is extracted three ways in the same
run: by the rules alone (`find_field`), by the extractive engine with its ranker (candidates,
features, ranking, calibration), and by the ranker with the page's key index rebuilt for
every field (how keys were looked up before the index was kept per page). Best of
`--repeat` runs, each with the date and amount parsers' memo emptied first; the process is
pinned to one core.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import os
import platform
import time
from collections.abc import Callable

from pipeline.engines.extractive import ExtractiveEngine, find_field
from pipeline.fields.normalize import find_amounts, find_dates
from pipeline.fields.schemas import load_schema
from pipeline.layout import Line, group_lines
from pipeline.pages import open_document
from pipeline.types import Page

INVOICES = Path(__file__).resolve().parents[2] / "shared" / "data" / "invoices-dev" / "docs"


def _documents() -> list[list[Page]]:
    documents = []
    for path in sorted(INVOICES.glob("*.pdf")):
        with open_document(path.read_bytes()) as opened:
            documents.append(list(opened.pages()))
    return documents


def _best_ms_per_page(
    run: Callable[[list[Page]], object], documents: list[list[Page]], repeat: int
) -> float:
    pages = sum(len(document) for document in documents)
    best = float("inf")
    for _ in range(repeat):
        find_dates.cache_clear()  # each run reads its pages afresh
        find_amounts.cache_clear()
        started = time.perf_counter()
        for document in documents:
            run(document)
        best = min(best, time.perf_counter() - started)
    return 1000 * best / pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    documents = _documents()
    specs = [definition.spec() for definition in load_schema("invoice").fields]
    engine = ExtractiveEngine()

    def rules(pages: list[Page]) -> None:
        lines: list[list[Line]] = [group_lines(page.words) for page in pages]
        for spec in specs:
            find_field(spec, lines)

    def ranked(pages: list[Page]) -> None:
        engine.extract(pages, specs)

    def ranked_without_index(pages: list[Page]) -> None:
        for spec in specs:  # fresh lines per field: no key index carried between fields
            engine.extract(pages, [spec])

    timings = {
        name: _best_ms_per_page(run, documents, args.repeat)
        for name, run in (
            ("rules", rules),
            ("ranker", ranked),
            ("ranker, index per field", ranked_without_index),
        )
    }
    pages = sum(len(document) for document in documents)
    print(f"{platform.processor() or platform.machine()}, 1 core, {pages} invoice pages")
    for name, ms in timings.items():
        print(f"{name:26s} {ms:7.1f} ms/page")
    print(f"ranker / rules: {timings['ranker'] / timings['rules']:.2f}x the time")
    shared = timings["ranker, index per field"] / timings["ranker"]
    print(f"key index kept per page: {shared:.2f}x faster than rebuilt per field")


if __name__ == "__main__":
    main()
