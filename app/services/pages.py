"""A stored document's pages as the pipeline sees them, images rendered on demand.

Pages read by OCR keep the image they were read from (stored under the data dir). Pages
whose words came from the PDF text layer store no image: it is rendered from the original
when something needs pixels (a model in a worker, a viewer), and a viewer's rendering is
cached beside the stored ones.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from PIL import Image

from app.config import Settings
from app.db.json_columns import decode_words
from app.db.models import DocumentRecord, DocumentStatus, PageRecord
from app.errors import NotFoundError, NotReadyError
from app.services import storage
from pipeline.einvoice import EInvoice, read_embedded_invoice
from pipeline.types import Page, TextSource


def load_pages(settings: Settings, document: DocumentRecord) -> list[Page]:
    """The document's pages (words included); images open or render on first use."""
    require_ready(document)
    original = _original_reader(settings, document.sha256)
    return [
        Page(
            index=row.index,
            width=row.width,
            height=row.height,
            dpi=row.dpi,
            text_source=TextSource(row.text_source),
            words=decode_words(row.words, row.index),
            loader=_loader(settings, row, original),
        )
        for row in document.pages
    ]


def embedded_invoice(settings: Settings, document: DocumentRecord) -> EInvoice | None:
    """The e-invoice XML a PDF carries (Factur-X, ZUGFeRD, XRechnung), read from the
    original each time: cheap, and documents stored before docfuse read them get it too."""
    if document.file_type != "pdf":
        return None
    return read_embedded_invoice(storage.original_path(settings.data_dir, document.sha256))


def require_ready(document: DocumentRecord) -> None:
    """Questions need pages: refuse a document still being processed, or failed."""
    if document.status != DocumentStatus.READY:
        raise NotReadyError(
            f"document {document.id} is {document.status}"
            + (f": {document.error}" if document.error else "")
        )


def page_image_file(settings: Settings, document: DocumentRecord, index: int) -> Path:
    """A PNG of page `index` for a viewer: the stored image, or a rendering kept for next time."""
    rows = {row.index: row for row in document.pages}
    if index not in rows:
        raise NotFoundError(f"document {document.id} has no page {index}")
    row = rows[index]
    relpath = row.image_path or storage.page_image_relpath(document.sha256, index)
    path = settings.data_dir / relpath
    if not path.is_file():
        image = _loader(settings, row, _original_reader(settings, document.sha256))()
        storage.save_page_image(settings.data_dir, relpath, image)
    return path


def _original_reader(settings: Settings, sha256: str) -> Callable[[], bytes]:
    """Reads the original once, when the first page needs it."""
    return lru_cache(maxsize=1)(storage.original_path(settings.data_dir, sha256).read_bytes)


def _loader(
    settings: Settings, row: PageRecord, original: Callable[[], bytes]
) -> Callable[[], Image.Image]:
    if row.image_path is not None:
        path = settings.data_dir / row.image_path
        return lambda: Image.open(path).convert("RGB")
    index, dpi = row.index, row.dpi or settings.dpi

    def render() -> Image.Image:
        from pipeline.pages import render_pdf_page  # PyMuPDF: imported when first needed

        return render_pdf_page(original(), index, dpi)

    return render
