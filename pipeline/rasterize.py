"""Turn document bytes into RGB page images, refusing bad input before any pixel is decoded.

Everything that can be checked from headers alone (corrupt or truncated PDF, password,
zero pages, page or image pixel size against the cap) is checked when a document is opened,
so a worker never allocates a decompression bomb and a bad file fails fast with a reason.
Library exceptions never escape: they become `BadInputError` subclasses with a readable
message (a reason only; the caller prefixes the filename).
"""

from __future__ import annotations

import io
import logging
import math

import numpy as np
import pymupdf
from PIL import (
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
    UnidentifiedImageError,
)

from pipeline.errors import CorruptFileError, EncryptedFileError, TooLargeError
from pipeline.filetypes import FileType
from pipeline.limits import MIN_DPI

logger = logging.getLogger(__name__)

POINTS_PER_INCH = 72

# The PDF spec wants %%EOF at the end; readers tolerate trailing junk within the last KiB.
# PyMuPDF silently "repairs" a PDF cut short and shows whatever pages survived, so a file
# without %%EOF near its end is refused as truncated rather than half-processed.
EOF_WINDOW = 1024

# (mypy sees ImageFile's abstract `_open`; these concrete plugin classes implement it.)
_PLUGINS: dict[FileType, type[ImageFile.ImageFile]] = {
    FileType.PNG: PngImagePlugin.PngImageFile,
    FileType.JPEG: JpegImagePlugin.JpegImageFile,
    FileType.TIFF: TiffImagePlugin.TiffImageFile,
}

# What Pillow raises for damaged image data besides UnidentifiedImageError (the same list
# `Image.open` catches from its plugins, plus what decoders raise later).
_PIL_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError)

# What PyMuPDF raises for damaged PDFs: its own FileDataError (a RuntimeError), ValueError,
# and MuPDF's C-level errors (e.g. FzErrorFormat "malformed page tree"), which are not.
MUPDF_ERRORS = (RuntimeError, ValueError, pymupdf.mupdf.FzErrorBase)


# ----------------------------------------------------------------------------- PDF


def open_pdf(data: bytes) -> pymupdf.Document:
    """Open a PDF, refusing truncated, unreadable, password-protected or empty files."""
    if b"%%EOF" not in data[-EOF_WINDOW:]:
        raise CorruptFileError("truncated PDF: the end-of-file marker is missing")
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except MUPDF_ERRORS as error:
        raise CorruptFileError(f"damaged PDF that cannot be read ({error})") from error
    if doc.needs_pass:
        doc.close()
        raise EncryptedFileError("encrypted PDF: it needs a password to open")
    if doc.page_count == 0:
        doc.close()
        raise CorruptFileError("PDF has no pages")
    if doc.is_repaired:
        logger.info("PDF had a damaged cross-reference table; PyMuPDF repaired it")
    return doc


def pixel_size(rect: pymupdf.Rect, dpi: int) -> tuple[int, int]:
    """Width and height in pixels of a page rectangle (in points) rendered at `dpi`: the
    size `render_pdf_page` gives, computed without rendering (MuPDF's own rounding)."""
    zoom = dpi / POINTS_PER_INCH
    pixels = (rect * pymupdf.Matrix(zoom, zoom)).irect
    return pixels.width, pixels.height


def check_pdf_page_sizes(doc: pymupdf.Document, dpi: int, max_pixels: int) -> None:
    """Refuse the document if any page rendered at `dpi` would exceed `max_pixels`."""
    for index in range(doc.page_count):
        rect = load_pdf_page(doc, index).rect
        width, height = pixel_size(rect, dpi)
        if width * height > max_pixels:
            raise TooLargeError(
                f"page {index + 1} would be {width} x {height} pixels at {dpi} DPI, "
                f"over the cap of {max_pixels:,} pixels; {_advice(rect, max_pixels)}"
            )


def _advice(rect: pymupdf.Rect, max_pixels: int) -> str:
    """What would let the page through: a DPI that is allowed, else a higher cap."""
    highest = max_dpi_for(rect, max_pixels)
    if highest >= MIN_DPI:
        return f"use a lower DPI (at most {highest} for this page)"
    needed = math.prod(pixel_size(rect, MIN_DPI))
    return (
        f"even at the lowest DPI ({MIN_DPI}) it needs {needed:,} pixels: raise the cap "
        "(DOCFUSE_MAX_PAGE_PIXELS) to that to read it"
    )


def max_dpi_for(rect: pymupdf.Rect, max_pixels: int) -> int:
    """The highest whole DPI at which `rect` stays within `max_pixels`."""
    area_sq_inches = rect.width * rect.height / POINTS_PER_INCH**2
    dpi = math.floor(math.sqrt(max_pixels / area_sq_inches)) if area_sq_inches else 0
    while dpi > 0 and math.prod(pixel_size(rect, dpi)) > max_pixels:
        dpi -= 1  # ceil() in pixel_size can push the square-root estimate just over
    return dpi


def render_pdf_page(page: pymupdf.Page, dpi: int) -> Image.Image:
    """Render a page (rotation applied, as a viewer shows it) to an RGB image."""
    zoom = dpi / POINTS_PER_INCH
    try:
        pixmap = page.get_pixmap(
            matrix=pymupdf.Matrix(zoom, zoom), colorspace=pymupdf.csRGB, alpha=False
        )
    except MUPDF_ERRORS as error:
        raise CorruptFileError(f"page {page.number + 1} cannot be rendered ({error})") from error
    return Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples)


def load_pdf_page(doc: pymupdf.Document, index: int) -> pymupdf.Page:
    """Load page `index` (0-based), turning MuPDF failures into `CorruptFileError`."""
    try:
        return doc.load_page(index)
    except MUPDF_ERRORS as error:
        raise CorruptFileError(f"page {index + 1} cannot be read ({error})") from error


# --------------------------------------------------------------------------- images


def open_image(data: bytes, file_type: FileType, max_pixels: int, max_pages: int) -> Image.Image:
    """Open an image lazily (header only) and refuse it if it has more than `max_pages`
    frames or any frame is over `max_pixels`.

    The format's plugin class is used directly rather than `Image.open`: the type is already
    known from the magic bytes, and `Image.open` applies Pillow's own global bomb limit
    first, whose message and threshold would override the configured cap.
    """
    try:
        image = _PLUGINS[file_type](io.BytesIO(data))
    except (UnidentifiedImageError, *_PIL_DECODE_ERRORS) as error:
        raise CorruptFileError(
            f"damaged {file_type.name} image that cannot be read ({error})"
        ) from error
    count = frame_count(image)
    check_page_count(count, max_pages)
    for index in range(count):
        _check_frame_size(image, index, max_pixels)
    return image


def check_page_count(count: int, max_pages: int) -> None:
    """Refuse a document with more pages than a document may have: each page is work."""
    if count > max_pages:
        raise TooLargeError(
            f"{count:,} pages, over the limit of {max_pages:,} pages a document may have "
            "(DOCFUSE_MAX_PAGES)"
        )


def frame_count(image: Image.Image) -> int:
    """Pages in an image: every frame of a TIFF, only the first of anything else."""
    if image.format != "TIFF":
        return 1
    try:
        return int(getattr(image, "n_frames", 1))
    except _PIL_DECODE_ERRORS as error:
        raise CorruptFileError(f"damaged TIFF: its page list cannot be read ({error})") from error


def _check_frame_size(image: Image.Image, index: int, max_pixels: int) -> None:
    _seek(image, index)
    width, height = image.size
    if width * height > max_pixels:
        where = f"page {index + 1} of the image" if index else "image"
        raise TooLargeError(
            f"{where} is {width} x {height} pixels, over the cap of {max_pixels:,} pixels "
            "(possibly a decompression bomb)"
        )


def decode_frame(image: Image.Image, index: int) -> Image.Image:
    """Decode frame `index` into an upright RGB image (EXIF orientation applied)."""
    _seek(image, index)
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
        return to_rgb(upright)
    except _PIL_DECODE_ERRORS as error:
        raise CorruptFileError(
            f"page {index + 1} of the image cannot be decoded ({error})"
        ) from error


def image_dpi(image: Image.Image) -> int | None:
    """The DPI an image declares, or None when it declares none (or a nonsensical one)."""
    dpi = image.info.get("dpi")
    if not dpi:
        return None
    value = round(float(dpi[0]))
    return value if value > 1 else None


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _high_depth_to_rgb(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit (or 32-bit/float) grey to 8-bit: scale the full 16-bit range to 0..255.

    Pillow's own conversion clips values above 255, which turns a 16-bit scan white.
    Data that already fits in 0..255 (some 32-bit files) is kept as is.
    """
    values = np.asarray(image, dtype=np.float64)
    if values.size and values.max() > 255:
        values = values / 257.0
    grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def _seek(image: Image.Image, index: int) -> None:
    try:
        image.seek(index)
    except _PIL_DECODE_ERRORS as error:
        raise CorruptFileError(f"page {index + 1} of the image cannot be read ({error})") from error
