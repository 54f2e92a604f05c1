"""Born-digital PDFs written on the fly for the benchmarks, so nothing binary is committed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pymupdf

PageWriter = Callable[[pymupdf.Page, int, int], None]
"""Fills one page, given (page, document number, page number)."""


def write_pdfs(folder: Path, count: int, pages: int, name: str, fill: PageWriter) -> list[Path]:
    """`count` PDFs of `pages` A4 pages each, `folder/<name>-NNN.pdf`, filled by `fill`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        document = pymupdf.open()
        for page_number in range(pages):
            fill(document.new_page(), number, page_number)
        path = folder / f"{name}-{number:03d}.pdf"
        document.save(path)
        paths.append(path)
    return paths
