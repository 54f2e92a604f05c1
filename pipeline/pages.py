"""Open a document and produce its pages: RGB image + words with boxes, one page at a time.

`open_document` does every check that can be done up front (type by magic bytes, empty,
corrupt, truncated, encrypted, zero pages, pixel size of every page against the cap) so a
bad document fails before any work is queued. `OpenedDocument.pages()` then reads one page
at a time, so memory stays bounded however long the PDF is. A page with a usable text layer
is not rendered unless its `image` is asked for (while the document is open); later,
`render_pdf_page` renders one page of the stored bytes on demand.

Where a page's words come from (`Page.text_source`):

* PDF page with a usable text layer (rule in `pipeline.text_layer`): `pdf`, words from the
  text layer, confidence None.
* PDF page without one (a scan), and every page of an image file: `ocr`, words from OCR.
  With `PageOptions(ocr=False)` such a page is still `ocr` (its words would have to come
  from OCR) but its word list is empty: it says "not read yet", never "the PDF had no
  text", and the page's image is there for an engine that reads pixels itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from types import TracebackType

import pymupdf
from PIL import Image

from pipeline import ocr, rasterize, text_layer, text_quality
from pipeline.errors import CorruptFileError
from pipeline.filetypes import FileType, detect_file_type
from pipeline.text_layer import Verdict
from pipeline.types import Page, TextSource, Word

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.7  # share of a doubtful layer's words OCR must also read


@dataclass(frozen=True)
class PageOptions:
    """How pages are produced. The pixel cap guards workers against gigantic pages."""

    dpi: int = 150
    max_page_pixels: int = 40_000_000
    max_pages: int = 2000
    ocr: bool = True

    def __post_init__(self) -> None:
        if self.dpi <= 0:
            raise ValueError(f"dpi must be positive, got {self.dpi}")
        if self.max_page_pixels <= 0:
            raise ValueError(f"max_page_pixels must be positive, got {self.max_page_pixels}")
        if self.max_pages <= 0:
            raise ValueError(f"max_pages must be positive, got {self.max_pages}")


class OpenedDocument:
    """A validated document (an open PDF, or an image with one or more frames). Use as a
    context manager, or call `close()`, to free it."""

    def __init__(
        self, file_type: FileType, options: PageOptions, source: pymupdf.Document | Image.Image
    ):
        self.file_type = file_type
        self.options = options
        self._source = source
        self._closed = False
        if isinstance(source, pymupdf.Document):
            self.page_count = source.page_count
        else:
            self.page_count = rasterize.frame_count(source)

    def pages(self) -> Iterator[Page]:
        """Yield the document's pages in order, each rendered and read when reached."""
        for index in range(self.page_count):
            if isinstance(self._source, pymupdf.Document):
                yield self._pdf_page(self._source, index)
            else:
                yield self._image_page(self._source, index)

    def close(self) -> None:
        self._closed = True
        self._source.close()

    def __enter__(self) -> OpenedDocument:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _pdf_page(self, pdf: pymupdf.Document, index: int) -> Page:
        pdf_page = rasterize.load_pdf_page(pdf, index)
        dpi = self.options.dpi
        words, coverage = _read_text_layer(pdf_page, index)
        verdict = text_layer.judge_text_layer(words, coverage)
        image = None
        if verdict is Verdict.CHECK:
            image = rasterize.render_pdf_page(pdf_page, dpi)
            verdict = self._check_against_ocr(words, image, index)
        if verdict is Verdict.USE:
            width, height = rasterize.pixel_size(pdf_page.rect, dpi)
            render = partial(self._render_later, pdf_page, index, dpi)
            return Page(index, width, height, dpi, TextSource.PDF, words, loader=render)
        logger.debug("page %d: text layer not used (%d words); OCR", index + 1, len(words))
        image = image or rasterize.render_pdf_page(pdf_page, dpi)
        return Page.from_image(index, image, dpi, TextSource.OCR, self._ocr(image, index))

    def _check_against_ocr(self, words: list[Word], image: Image.Image, index: int) -> Verdict:
        """A doubtful text layer is used if OCR of a strip reads most of its words there;
        without OCR there is nothing to check it with, and it is used as it is."""
        if not self.options.ocr:
            return Verdict.USE
        agreement = text_quality.agreement_with_ocr(words, image, index)
        logger.debug("page %d: text layer and OCR agree on %.0f%%", index + 1, 100 * agreement)
        return Verdict.USE if agreement >= MIN_AGREEMENT else Verdict.OCR

    def _render_later(self, pdf_page: pymupdf.Page, index: int, dpi: int) -> Image.Image:
        if self._closed:
            raise ValueError(
                f"page {index + 1}: its image was asked for after the document "
                "was closed (use pipeline.pages.render_pdf_page on the stored bytes)"
            )
        return rasterize.render_pdf_page(pdf_page, dpi)

    def _image_page(self, source: Image.Image, index: int) -> Page:
        image = rasterize.decode_frame(source, index)
        dpi = rasterize.image_dpi(source)
        return Page.from_image(index, image, dpi, TextSource.OCR, self._ocr(image, index))

    def _ocr(self, image: Image.Image, index: int) -> list[Word]:
        """OCR'd words; none for a page that cannot hold any (blank, or a few pixels)."""
        if not self.options.ocr or not ocr.has_ink(image):
            return []
        return ocr.ocr_image(image, index)


def _read_text_layer(pdf_page: pymupdf.Page, index: int) -> tuple[list[Word], float]:
    """The page's text-layer words and largest image coverage (see `pipeline.text_layer`).
    The coverage costs a second pass over the page, so it is measured only when the text
    alone does not settle the rule (0.0 otherwise)."""
    try:
        words = text_layer.extract_words(pdf_page, index)
        if text_layer.has_enough_text(words):
            return words, 0.0
        return words, text_layer.largest_image_coverage(pdf_page)
    except rasterize.MUPDF_ERRORS as error:
        raise CorruptFileError(f"page {index + 1}: its text cannot be read ({error})") from error


def open_document(data: bytes, options: PageOptions = PageOptions()) -> OpenedDocument:
    """Validate `data` and open it, or raise the matching `BadInputError` subclass."""
    file_type = detect_file_type(data)
    if file_type is FileType.PDF:
        pdf = rasterize.open_pdf(data)
        try:
            rasterize.check_page_count(pdf.page_count, options.max_pages)
            rasterize.check_pdf_page_sizes(pdf, options.dpi, options.max_page_pixels)
        except BaseException:
            pdf.close()
            raise
        return OpenedDocument(file_type, options, pdf)
    image = rasterize.open_image(data, file_type, options.max_page_pixels, options.max_pages)
    return OpenedDocument(file_type, options, image)


def render_pdf_page(data: bytes, index: int, dpi: int) -> Image.Image:
    """Render page `index` (0-based) of a PDF given as bytes: the on-demand image of a page
    whose words came from its text layer."""
    with rasterize.open_pdf(data) as pdf:
        return rasterize.render_pdf_page(rasterize.load_pdf_page(pdf, index), dpi)
