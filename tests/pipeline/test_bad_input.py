"""Every kind of bad input is refused with the right error and a readable reason."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import pymupdf
import pytest
from PIL import Image, ImageFile

from pipeline import ocr
from pipeline.errors import (
    BadInputError,
    CorruptFileError,
    EmptyFileError,
    EncryptedFileError,
    TooLargeError,
    UnsupportedFileTypeError,
)
from pipeline.filetypes import FileType
from pipeline.pages import PageOptions, open_document
from tests import badfiles


@pytest.mark.parametrize(
    ("make", "error", "reason"),
    [
        (badfiles.make_corrupt_pdf, CorruptFileError, r"^damaged PDF that cannot be read"),
        (badfiles.make_truncated_pdf, CorruptFileError, r"^truncated PDF"),
        (badfiles.make_encrypted_pdf, EncryptedFileError, r"^encrypted PDF: it needs a password"),
        (badfiles.make_zero_page_pdf, CorruptFileError, r"^PDF has no pages$"),
        (badfiles.make_empty_file, EmptyFileError, r"^empty file \(0 bytes\)$"),
        (badfiles.make_unsupported_file, UnsupportedFileTypeError, r"ZIP archive"),
        (badfiles.make_decompression_bomb, TooLargeError, r"^image is 30000 x 30000 pixels"),
    ],
)
def test_bad_input_is_refused_when_opened(
    tmp_path: Path, make: Callable[[Path], Path], error: type[BadInputError], reason: str
) -> None:
    data = make(tmp_path).read_bytes()
    with pytest.raises(error, match=reason) as caught:
        open_document(data)
    assert tmp_path.name not in str(caught.value)  # reason only: the caller adds the name


def test_plain_text_is_refused_as_plain_text(tmp_path: Path) -> None:
    data = badfiles.make_unsupported_file(tmp_path, kind="text").read_bytes()
    with pytest.raises(UnsupportedFileTypeError, match="plain text"):
        open_document(data)


def test_truncated_pdf_really_is_a_prefix_of_a_valid_pdf(tmp_path: Path) -> None:
    """Guards the fixture: the refusal must come from the truncation check, not a parse error."""
    data = badfiles.make_truncated_pdf(tmp_path).read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" not in data
    with pytest.raises(CorruptFileError, match="end-of-file marker is missing"):
        open_document(data)


def test_decompression_bomb_is_refused_from_its_header_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = badfiles.make_decompression_bomb(tmp_path).read_bytes()
    assert len(data) < 200_000

    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(TooLargeError, match="over the cap of 40,000,000 pixels"):
        open_document(data)


def test_image_over_a_configured_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("L", (2000, 1000), 255).save(path)
    with pytest.raises(TooLargeError, match=r"2000 x 1000 pixels, over the cap of 1,000,000"):
        open_document(path.read_bytes(), PageOptions(max_page_pixels=1_000_000))


def test_oversized_pdf_page_is_refused_naming_page_size_cap_and_a_lower_dpi(
    tmp_path: Path,
) -> None:
    data = badfiles.make_oversized_page_pdf(tmp_path).read_bytes()
    with pytest.raises(TooLargeError) as caught:
        open_document(data)
    # 31 DPI would fit, but is below what docfuse accepts: it names the setting instead.
    assert str(caught.value) == (
        "page 2 would be 30000 x 30000 pixels at 150 DPI, over the cap of 40,000,000 pixels; "
        "even at the lowest DPI (36) it needs 51,840,000 pixels: raise the cap "
        "(DOCFUSE_MAX_PAGE_PIXELS) to that to read it"
    )


def test_a_page_that_fits_at_a_lower_dpi_is_told_which() -> None:
    poster = pymupdf.open()
    poster.new_page(width=2384, height=3370)  # A0
    with pytest.raises(TooLargeError) as caught:
        open_document(poster.tobytes(), PageOptions(dpi=300))
    advice = re.search(r"use a lower DPI \(at most (\d+) for this page\)$", str(caught.value))
    assert advice is not None, str(caught.value)
    highest = int(advice.group(1))
    with open_document(poster.tobytes(), PageOptions(dpi=highest)) as document:
        assert document.page_count == 1
    with pytest.raises(TooLargeError):
        open_document(poster.tobytes(), PageOptions(dpi=highest + 1))


def test_oversized_pdf_page_opens_at_the_suggested_dpi(tmp_path: Path) -> None:
    data = badfiles.make_oversized_page_pdf(tmp_path).read_bytes()
    with open_document(data, PageOptions(dpi=31)) as document:
        assert document.page_count == 2
    with pytest.raises(TooLargeError):
        open_document(data, PageOptions(dpi=32))


def test_damage_found_only_while_decoding_is_raised_from_pages(tmp_path: Path) -> None:
    data = badfiles.make_truncated_jpeg(tmp_path).read_bytes()
    with open_document(data) as document:  # the header is intact
        assert document.file_type is FileType.JPEG
        with pytest.raises(CorruptFileError, match=r"^page 1 of the image cannot be decoded"):
            next(document.pages())


def test_png_named_pdf_is_processed_as_png(tmp_path: Path) -> None:
    path = badfiles.make_png_named_pdf(tmp_path)
    assert path.suffix == ".pdf"
    with open_document(path.read_bytes(), PageOptions(ocr=False)) as document:
        assert document.file_type is FileType.PNG
        page = next(document.pages())
    assert page.image.mode == "RGB" and page.image.size == (1240, 542)


@pytest.mark.parametrize("options", [{"dpi": 0}, {"max_page_pixels": -1}])
def test_nonsensical_options_are_rejected(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PageOptions(**options)


def damaged_variants(data: bytes, count: int, seed: int) -> list[bytes]:
    """`count` copies of `data` with random bytes overwritten, every other one also cut short."""
    rng = random.Random(seed)
    variants = []
    for number in range(count):
        damaged = bytearray(data[: rng.randrange(8, len(data))] if number % 2 else data)
        for _ in range(rng.randrange(1, 20)):
            damaged[rng.randrange(8, len(damaged))] = rng.randrange(256)
        variants.append(bytes(damaged))
    return variants


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the damaged tags
@pytest.mark.parametrize(
    "make",
    [badfiles.make_born_digital_pdf, badfiles.make_png_named_pdf, badfiles.make_multipage_tiff],
)
def test_damaged_files_raise_only_bad_input_errors(
    tmp_path: Path, make: Callable[[Path], Path]
) -> None:
    refused = 0
    for data in damaged_variants(make(tmp_path).read_bytes(), count=60, seed=7):
        try:
            with open_document(data, PageOptions(ocr=False)) as document:
                for _ in document.pages():
                    pass
        except BadInputError:
            refused += 1
    assert refused > 0  # the damage is real: at least some variants cannot be read


def test_documents_over_the_page_limit_are_refused_up_front(tmp_path: Path) -> None:
    pdf = badfiles.make_multipage_pdf(tmp_path, 6).read_bytes()
    with pytest.raises(TooLargeError, match=r"^6 pages, over the limit of 5 pages .*MAX_PAGES"):
        open_document(pdf, PageOptions(max_pages=5))
    tiff = badfiles.make_multipage_tiff(tmp_path).read_bytes()  # three frames
    with pytest.raises(TooLargeError, match="^3 pages, over the limit of 2 pages"):
        open_document(tiff, PageOptions(max_pages=2))
    with open_document(tiff, PageOptions(max_pages=3, ocr=False)) as document:
        assert document.page_count == 3


def test_blank_and_tiny_pages_are_not_sent_to_ocr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TIFF of 300 tiny frames used to keep OCR busy for minutes: nothing to read there."""
    text = badfiles.text_image(("INVOICE 42 TOTAL 12.50",))
    frames = [text, Image.new("RGB", (1240, 1754), "white"), Image.new("RGB", (5, 400), "black")]
    frames += [Image.new("L", (12, 12), 0).convert("RGB") for _ in range(297)]
    frames[-1].paste((255, 255, 255), (0, 0, 6, 12))  # two tones, but too small for text
    path = tmp_path / "frames.tiff"
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_deflate")
    read: list[int] = []
    real = ocr.ocr_image
    monkeypatch.setattr(
        ocr, "ocr_image", lambda image, index: read.append(index) or real(image, index)
    )
    with open_document(path.read_bytes()) as document:
        pages = list(document.pages())
    assert len(pages) == 300 and read == [0]
    assert "INVOICE" in " ".join(word.text for word in pages[0].words)
    assert all(page.words == [] for page in pages[1:])
    assert not ocr.has_ink(frames[1]) and ocr.has_ink(text)
