"""Text layers judged by what they read as: real ones (tables of numbers and ids included)
are used, the garbage of a font without a Unicode map is replaced by OCR, and doubtful ones
are checked against OCR of a strip of the page."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from pipeline.pages import PageOptions, open_document
from pipeline.text_layer import Verdict, extract_words, judge_text_layer, largest_image_coverage
from pipeline.text_quality import plausible_token, reading_score
from pipeline.types import TextSource
from tests import badfiles
from tests.conftest import SHARED_DATA


@pytest.mark.parametrize(
    "token",
    ["1,234.56", "12/03/2024", "€12.50", "19%", "INV-2024-0042", "Größe", "São", "§5",
     "Käufer/Leistungsempfänger", "max.muster@example.de", "1,1,1-trichloroethane",
     "Unit(s)", "~2000ml", "Ελληνικά", "Москва", "東京タワー", "“default”"],
)  # fmt: skip
def test_written_tokens_are_plausible(token: str) -> None:
    assert plausible_token(token)


@pytest.mark.parametrize("token", ["ÖàãçÖ§ñ", "àò°éñè", "•í•Ü", "ñòè", "õXä]ß", "îä\\õð", "aБc"])
def test_garbage_tokens_are_not(token: str) -> None:
    assert not plausible_token(token)


def _pages(folder: str) -> list[pymupdf.Page]:
    paths = sorted((SHARED_DATA / folder).rglob("*.pdf"))
    assert paths, folder
    return [page for path in paths for page in pymupdf.open(path)]


@pytest.mark.parametrize("folder", ["icdar2013-dev", "invoices-dev"])
def test_no_real_page_is_misjudged(folder: str) -> None:
    """Tables of numbers and ids are the hard case: every page is used as it is."""
    for page in _pages(folder):
        words = extract_words(page, page.number)
        verdict = judge_text_layer(words, largest_image_coverage(page))
        assert verdict is Verdict.USE, (page.parent.name, page.number)
        assert reading_score(words) >= 0.95


def _only_page(data: bytes) -> tuple[str, list[str]]:
    with open_document(data, PageOptions()) as document:
        (page,) = document.pages()
    return page.text_source, [word.text for word in page.words]


def test_a_layer_that_lies_is_replaced_by_ocr() -> None:
    data = badfiles.lying_pdf(("INVOICE NUMBER 2024 0042", "TOTAL AMOUNT DUE 1234 EUR"))
    words = extract_words(pymupdf.open(stream=data)[0], 0)
    assert "§" in " ".join(w.text for w in words) and reading_score(words) < 0.5
    source, read = _only_page(data)
    assert source is TextSource.OCR
    assert {"NUMBER", "TOTAL", "AMOUNT", "2024"} <= set(read)


def test_a_doubtful_layer_that_ocr_confirms_is_used() -> None:
    """Odd-looking but true: the page shows what the layer says."""
    data = badfiles.lying_pdf(
        (),
        honest=(
            "Invoice number 2024 0042 for the delivery of office supplies to you",
            "ÀÉÎÕÜàéîõüáíóú ÀÉÎÕÜàéîõüáíóú ÀÉÎÕÜàéîõü",
        ),
    )
    words = extract_words(pymupdf.open(stream=data)[0], 0)
    assert judge_text_layer(words, 0.0) is Verdict.CHECK
    source, read = _only_page(data)
    assert source is TextSource.PDF and "ÀÉÎÕÜàéîõüáíóú" in read


def test_a_doubtful_layer_that_ocr_contradicts_is_replaced() -> None:
    """Plausible in part, false where it matters: OCR of the strip disagrees."""
    data = badfiles.lying_pdf(
        ("TAX VAT NET DUE SUM FEE 1234",),
        honest=("Transportation Administration Headquarters",),
    )
    words = extract_words(pymupdf.open(stream=data)[0], 0)
    assert judge_text_layer(words, 0.0) is Verdict.CHECK
    source, read = _only_page(data)
    assert source is TextSource.OCR and "VAT" in read


def test_without_ocr_a_doubtful_layer_is_kept(tmp_path: Path) -> None:
    data = badfiles.lying_pdf(
        ("TAX VAT NET DUE SUM FEE 1234",), honest=("Transportation Administration Headquarters",)
    )
    with open_document(data, PageOptions(ocr=False)) as document:
        (page,) = document.pages()
    assert page.text_source is TextSource.PDF
