"""The ingest use case: hash, dedupe, store the original, then pages and words.

Ingest is two steps so that the UI and the workers can split them: `register_document`
records the file (identity = sha256) and stores its bytes; `process_document` renders the
pages and extracts words, then writes every page and the final status in ONE transaction.
A document is therefore either ready with all its pages, or failed with a reason and no
pages: never half-written. Any error inside one document is recorded on that document and
never propagates to the batch.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.json_columns import encode_words
from app.db.models import Document, DocumentStatus, JobStatus, Page
from app.db.upsert import insert_if_absent
from app.services import storage
from app.services.jobs import JobTracker
from pipeline.errors import BadInputError, TooLargeError
from pipeline.filetypes import FileType, detect_file_type
from pipeline.pages import PageOptions, open_document
from pipeline.types import Page as PipelinePage

logger = logging.getLogger(__name__)

PageProgress = Callable[[int, int], None]
"""Called with (pages done, page count) while a document is processed."""

DOCUMENT_SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


class IngestStatus(StrEnum):
    NEW = "new"
    KNOWN = "known"
    FAILED = "failed"


@dataclass(frozen=True)
class IngestResult:
    path: str
    status: IngestStatus
    document_id: int | None
    page_count: int = 0
    reason: str | None = None


def collect_paths(paths: Iterable[Path], *, recursive: bool) -> list[Path]:
    """Files named directly, plus the documents inside named folders.

    A named file is always attempted (its type comes from its bytes). In a folder, a file is
    taken when its extension or its magic bytes say document, so stray notes and label files
    beside the documents are not reported as failures.
    """
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        children = path.rglob("*") if recursive else path.iterdir()
        found.extend(sorted(p for p in children if p.is_file() and _looks_like_document(p)))
    return found


def _looks_like_document(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    if path.suffix.lower() in DOCUMENT_SUFFIXES:
        return True
    try:
        with path.open("rb") as handle:
            detect_file_type(handle.read(16))
    except (OSError, BadInputError):
        return False
    return True


def register_document(
    *, session: Session, settings: Settings, data: bytes, filename: str, source: str
) -> tuple[Document, bool]:
    """Record the file and store its bytes; returns (document, is_new). Commits.

    The original is written first (content-addressed, so a second writer rewrites the same
    bytes) and the row is inserted unless its sha256 is already there: two processes
    registering the same file at once give one document, and neither fails.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    original = storage.original_path(settings.data_dir, sha256)
    if not original.is_file():
        storage.write_atomic(original, data)
    values = {
        "sha256": sha256,
        "filename": Path(filename).name,
        "source": source,
        "size_bytes": len(data),
        "status": DocumentStatus.PENDING,
        "page_count": 0,
    }
    is_new = insert_if_absent(session, Document, values, ["sha256"])
    session.commit()
    return session.scalars(select(Document).where(Document.sha256 == sha256)).one(), is_new


def process_document(
    *,
    sessions: sessionmaker,
    settings: Settings,
    document_id: int,
    on_page: PageProgress | None = None,
) -> Document:
    """Render pages and words for a registered document; safe to run again (it replaces).
    Progress and outcome are recorded on an `ingest` job."""
    with sessions() as session:
        document = session.get_one(Document, document_id)
        document.status = DocumentStatus.PROCESSING
        session.commit()
        sha256 = document.sha256
    job = JobTracker(sessions, document_id, "ingest")

    def progress(done: int, total: int) -> None:
        job.progress(done, total)
        if on_page is not None:
            on_page(done, total)

    try:
        data = storage.original_path(settings.data_dir, sha256).read_bytes()
        file_type, pages = _render_pages(data, sha256, settings, progress)
    except BadInputError as error:
        reason = str(error)
    except Exception as error:  # a bug or resource fault must not stop the batch either
        logger.exception("unexpected error while processing document %s", document_id)
        reason = f"internal error: {error!r}"
    else:
        document = _mark_ready(sessions, settings, document_id, file_type, pages)
        job.finish(JobStatus.DONE, f"{len(pages)} pages")
        return document
    document = _mark_failed(sessions, settings, document_id, reason)
    job.finish(JobStatus.FAILED, reason)
    return document


def _render_pages(
    data: bytes, sha256: str, settings: Settings, on_page: PageProgress
) -> tuple[FileType, list[Page]]:
    options = PageOptions(
        dpi=settings.dpi, max_page_pixels=settings.max_page_pixels, ocr=settings.ocr
    )
    rows: list[Page] = []
    with open_document(data, options) as opened:
        for page in opened.pages():
            rows.append(_page_row(page, sha256, settings))
            on_page(len(rows), opened.page_count)
        return opened.file_type, rows


def _page_row(page: PipelinePage, sha256: str, settings: Settings) -> Page:
    relpath = storage.page_image_relpath(sha256, page.index)
    storage.save_page_image(settings.data_dir, relpath, page.image)
    return Page(
        index=page.index,
        width=page.width,
        height=page.height,
        dpi=page.dpi,
        text_source=str(page.text_source),
        image_path=relpath,
        words=encode_words(page.words),
    )


def _mark_ready(
    sessions: sessionmaker,
    settings: Settings,
    document_id: int,
    file_type: FileType,
    pages: list[Page],
) -> Document:
    with sessions() as session, session.begin():
        document = session.get_one(Document, document_id)
        session.execute(delete(Page).where(Page.document_id == document_id))
        for page in pages:
            page.document_id = document_id
        session.add_all(pages)
        document.file_type = str(file_type)
        document.page_count = len(pages)
        document.dpi = settings.dpi if file_type is FileType.PDF else None
        document.status = DocumentStatus.READY
        document.error = None
    return document


def _mark_failed(
    sessions: sessionmaker, settings: Settings, document_id: int, reason: str
) -> Document:
    with sessions() as session, session.begin():
        document = session.get_one(Document, document_id)
        session.execute(delete(Page).where(Page.document_id == document_id))
        document.status = DocumentStatus.FAILED
        document.error = reason
        document.page_count = 0
        sha256 = document.sha256
    storage.remove_page_images(settings.data_dir, sha256)
    logger.warning("document %s failed: %s", document_id, reason)
    return document


def ingest_path(
    *,
    sessions: sessionmaker,
    settings: Settings,
    path: Path,
    source: str = "cli",
    on_page: PageProgress | None = None,
) -> IngestResult:
    """Ingest one file end to end. Ready duplicates are `known`; failed ones are retried."""
    try:
        data = _read_within_limit(path, settings.max_upload_bytes)
    except (OSError, BadInputError) as error:
        return IngestResult(str(path), IngestStatus.FAILED, None, reason=_reason(error))
    with sessions() as session:
        document, is_new = register_document(
            session=session, settings=settings, data=data, filename=path.name, source=source
        )
    if not is_new and document.status == DocumentStatus.READY:
        return IngestResult(str(path), IngestStatus.KNOWN, document.id, document.page_count)
    document = process_document(
        sessions=sessions, settings=settings, document_id=document.id, on_page=on_page
    )
    if document.status == DocumentStatus.FAILED:
        return IngestResult(str(path), IngestStatus.FAILED, document.id, reason=document.error)
    return IngestResult(str(path), IngestStatus.NEW, document.id, document.page_count)


def _read_within_limit(path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    if size > limit:
        raise TooLargeError(f"file too large: {size:,} bytes, the limit is {limit:,}")
    return path.read_bytes()


def _reason(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "is a directory"
    if isinstance(error, OSError):
        return f"cannot read the file: {error.strerror or error}"
    return str(error)
