"""Image files: multi-page TIFF, EXIF orientation, every pixel mode to RGB, declared DPI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.pages import PageOptions, open_document
from pipeline.types import Page, TextSource
from tests import badfiles

NO_OCR = PageOptions(ocr=False)


def encode(image: Image.Image, fmt: str, **save_args: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def pages_of(data: bytes, options: PageOptions = NO_OCR) -> list[Page]:
    with open_document(data, options) as document:
        return list(document.pages())


def test_multipage_tiff_gives_one_ocrd_page_per_frame(tmp_path: Path) -> None:
    pages = pages_of(badfiles.make_multipage_tiff(tmp_path).read_bytes(), PageOptions())
    assert [p.index for p in pages] == [0, 1, 2]
    for page, line in zip(pages, badfiles.TIFF_PAGE_LINES, strict=True):
        assert page.text_source is TextSource.OCR and page.dpi == 150
        assert " ".join(w.text for w in page.words) == line
        assert {w.box.page for w in page.words} == {page.index}


def test_image_without_ocr_keeps_the_ocr_source_and_no_words(tmp_path: Path) -> None:
    (page,) = pages_of(badfiles.make_png_named_pdf(tmp_path).read_bytes())
    assert page.text_source is TextSource.OCR and page.words == []
    assert page.dpi is None  # the PNG declares none


def test_exif_orientation_is_applied() -> None:
    stored = Image.new("RGB", (200, 100), "white")
    stored.paste((255, 0, 0), (0, 0, 50, 50))  # red block top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    (page,) = pages_of(encode(stored, "JPEG", exif=exif, quality=95, dpi=(300, 300)))
    assert page.image.size == (100, 200)
    pixels = np.asarray(page.image)
    assert tuple(pixels[10, 90]) == pytest.approx((255, 0, 0), abs=30)  # now top-right
    assert tuple(pixels[10, 10]) == pytest.approx((255, 255, 255), abs=30)
    assert page.dpi == 300


def test_rgba_is_composited_on_white() -> None:
    image = Image.new("RGBA", (40, 20), (0, 0, 0, 0))  # transparent black
    image.paste((0, 0, 255, 255), (0, 0, 10, 10))
    (page,) = pages_of(encode(image, "PNG"))
    pixels = np.asarray(page.image)
    assert page.image.mode == "RGB"
    assert tuple(pixels[15, 30]) == (255, 255, 255)
    assert tuple(pixels[5, 5]) == (0, 0, 255)


def test_palette_transparency_becomes_white() -> None:
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 200, 10, 10] + [0, 0, 0] * 254)
    image.paste(1, (0, 0, 5, 5))
    (page,) = pages_of(encode(image, "PNG", transparency=0))
    pixels = np.asarray(page.image)
    assert tuple(pixels[10, 10]) == (255, 255, 255)
    assert tuple(pixels[2, 2]) == (200, 10, 10)


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257 * 128, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")  # really stored as 16-bit
    (page,) = pages_of(data)
    assert np.asarray(page.image)[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    ("mode", "fmt", "colour", "expected"),
    [
        ("CMYK", "JPEG", (0, 255, 255, 0), (255, 0, 0)),
        ("L", "PNG", 77, (77, 77, 77)),
        ("1", "TIFF", 0, (0, 0, 0)),
        ("LA", "PNG", (0, 0), (255, 255, 255)),
    ],
)
def test_any_mode_becomes_rgb(
    mode: str, fmt: str, colour: object, expected: tuple[int, int, int]
) -> None:
    (page,) = pages_of(encode(Image.new(mode, (16, 16), colour), fmt))
    assert page.image.mode == "RGB"
    assert tuple(np.asarray(page.image)[8, 8]) == pytest.approx(expected, abs=3)
