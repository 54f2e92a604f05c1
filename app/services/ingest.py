"""The ingest use case: submit files (hash, dedupe, store, queue), then process them.

Ingest is two steps so that the CLI, the watcher and the UI hand work to the workers:

- `submit_file` / `submit_bytes` record the file (identity = sha256), store its bytes under
  the data dir and queue an `ingest` job, all before anything is parsed. A document already
  ready is `known`; one with an active ingest job is `busy` (the partial unique index on
  jobs lets only one submission win, across processes); a failed one is retried.
- `run_ingest_job` (long-running: it opens its own sessions) claims the job, reads every
  page (text layer, or OCR for scans; born-digital pages store no image), and writes the
  pages, the document's final status, the job's outcome and any follow-up analysis job in
  ONE transaction, only if the job is still RUNNING. A document is therefore ready with all
  its pages or failed with a reason and none, never half-written, whatever interrupts it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from app import interrupts
from app.config import Settings
from app.db.json_columns import encode_words
from app.db.models import DocumentRecord, DocumentStatus, JobKind, JobRecord, JobStatus, PageRecord
from app.db.upsert import insert_if_absent
from app.errors import BadInputError, NotFoundError
from app.read_models import Submission, SubmitOutcome
from app.services import storage
from app.services.analysis import queue_analysis
from app.services.heartbeat import Heartbeat
from app.services.jobs import (
    ProgressWriter,
    active_ingest_job,
    claim,
    complete,
    enqueue,
    fail_jobs,
    waiting_on,
)
from app.services.payloads import IngestPayload
from pipeline.errors import TooLargeError
from pipeline.filetypes import FileType, detect_file_type
from pipeline.types import Page, TextSource

logger = logging.getLogger(__name__)

PageProgress = Callable[[int, int], None]
"""Called with (pages done, page count) while a document is processed."""

DOCUMENT_SUFFIXES = {".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


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


# ---------------------------------------------------------------------------- submit


def submit_file(
    *,
    sessions: sessionmaker,
    settings: Settings,
    path: Path,
    payload: IngestPayload,
    source: str = "cli",
    analyze_known: bool = True,
) -> Submission:
    """Read a file (regular files only, never more than the size limit) and submit it."""
    try:
        data = read_document_file(path, settings.max_upload_bytes)
    except (OSError, BadInputError) as error:
        return Submission(source=str(path), outcome=SubmitOutcome.REFUSED, reason=_reason(error))
    with sessions() as session:
        submission = submit_bytes(
            session=session,
            settings=settings,
            data=data,
            filename=path.name,
            payload=payload,
            source=source,
            analyze_known=analyze_known,
        )
    return submission.model_copy(update={"source": str(path)})


def submit_bytes(
    *,
    session: Session,
    settings: Settings,
    data: bytes,
    filename: str,
    payload: IngestPayload,
    source: str,
    analyze_known: bool = True,
) -> Submission:
    """Register the bytes as a document and queue what it needs (committed); the caller
    dispatches the returned job. A document already ready is not read again; its analysis
    (`payload.then`) is queued unless `analyze_known` is False."""
    if len(data) > settings.max_upload_bytes:
        reason = _too_large(len(data), settings.max_upload_bytes)
        return Submission(source=filename, outcome=SubmitOutcome.REFUSED, reason=reason)
    document = register_document(
        session=session, settings=settings, data=data, filename=filename, source=source
    )
    if document.status == DocumentStatus.READY:
        job_id = queue_analysis(session, document.id, payload.then) if analyze_known else None
        session.commit()
        return Submission(
            source=filename, outcome=SubmitOutcome.KNOWN, document_id=document.id, job_id=job_id
        )
    job_id = enqueue(
        session, document_id=document.id, kind=JobKind.INGEST, payload=payload.to_json()
    )
    if job_id is None:
        session.rollback()
        active = active_ingest_job(session, document.id)
        if active is not None and analyze_known:
            # Being read by another job: the analysis waits for it (see `_finish`).
            queue_analysis(session, document.id, payload.then, parent_id=active.id)
            session.commit()
        return Submission(
            source=filename,
            outcome=SubmitOutcome.BUSY,
            document_id=document.id,
            job_id=active.id if active else None,
        )
    document.status, document.error = DocumentStatus.PENDING, None
    session.commit()
    return Submission(
        source=filename, outcome=SubmitOutcome.QUEUED, document_id=document.id, job_id=job_id
    )


def reprocess_document(*, session: Session, document_id: int) -> Submission:
    """Queue the document's pages to be read again (committed); the caller dispatches.
    Its pages and results stay until the new reading replaces the pages."""
    document = session.get(DocumentRecord, document_id)
    if document is None:
        raise NotFoundError(f"no document with id {document_id}")
    job_id = enqueue(
        session,
        document_id=document_id,
        kind=JobKind.INGEST,
        payload=IngestPayload(again=True).to_json(),
    )
    session.commit()
    outcome = SubmitOutcome.QUEUED if job_id is not None else SubmitOutcome.BUSY
    return Submission(
        source=document.filename, outcome=outcome, document_id=document_id, job_id=job_id
    )


def register_document(
    *, session: Session, settings: Settings, data: bytes, filename: str, source: str
) -> DocumentRecord:
    """Record the file and store its bytes (not committed).

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
    insert_if_absent(session, DocumentRecord, values, ["sha256"])
    return session.scalars(select(DocumentRecord).where(DocumentRecord.sha256 == sha256)).one()


def read_document_file(path: Path, limit: int) -> bytes:
    """The bytes of a regular file, refusing FIFOs, devices and anything over `limit`.

    The file is opened without blocking (a FIFO with no writer would hang) and judged by
    the opened descriptor, and at most `limit` + 1 bytes are read whatever `stat` said.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as handle:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise BadInputError(f"not a regular file ({_file_kind(mode)}): only files are read")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(_too_large(None, limit))
    return data


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",  # a socket is never opened: ENXIO
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a file")


def _too_large(size: int | None, limit: int) -> str:
    actual = f"{size:,} bytes" if size is not None else f"over {limit:,} bytes"
    return f"file too large: {actual}, the limit is {limit:,} (DOCFUSE_MAX_UPLOAD_BYTES)"


def _reason(error: Exception) -> str:
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, IsADirectoryError):
        return "is a directory"
    if isinstance(error, OSError):
        return f"cannot read the file: {error.strerror or error}"
    return str(error)


# ------------------------------------------------------------------------------- run


class _Stopped(Exception):
    """The job was cancelled or given up while it ran: stop, keep nothing."""


def run_ingest_job(
    *,
    sessions: sessionmaker,
    settings: Settings,
    job_id: int,
    runner: str,
    on_page: PageProgress | None = None,
) -> list[int]:
    """Process the document of ingest job `job_id` (long-running: opens its own sessions).
    Returns the follow-up jobs to dispatch. Does nothing if the job is no longer queued."""
    with sessions() as session:
        if not claim(session, [job_id], runner):
            session.rollback()
            return []
        job = session.get_one(JobRecord, job_id)
        document = job.document
        payload = IngestPayload.model_validate(job.payload)
        if document.status == DocumentStatus.READY and not payload.again:  # pages exist
            session.commit()
            return _finish(sessions, settings, job_id, payload, None)
        if document.status != DocumentStatus.READY:  # a ready one keeps its pages meanwhile
            document.status = DocumentStatus.PROCESSING
        session.commit()
        sha256 = document.sha256
    dpi = payload.dpi or settings.dpi
    progress = ProgressWriter(sessions, job_id)
    try:
        with Heartbeat(sessions, [job_id], settings.heartbeat_interval_s) as heartbeat:

            def on_progress(done: int, total: int) -> None:
                if heartbeat.lost(job_id):
                    raise _Stopped
                progress(done, total)
                if on_page is not None:
                    on_page(done, total)

            outcome = _read_pages(settings, sha256, job_id, dpi, on_progress)
    except _Stopped:
        storage.remove_page_images(settings.data_dir, sha256, attempt=job_id)
        return []
    return _finish(sessions, settings, job_id, payload, outcome)


def _read_pages(
    settings: Settings, sha256: str, job_id: int, dpi: int, on_page: PageProgress
) -> tuple[FileType, list[PageRecord]] | str:
    """The document's page rows, or the reason it failed (bad input or internal error)."""
    # Imported here: PyMuPDF takes most of a second to import, which every CLI command
    # would pay although most never read a page.
    from pipeline.pages import PageOptions, open_document

    options = PageOptions(
        dpi=dpi,
        max_page_pixels=settings.max_page_pixels,
        max_pages=settings.max_pages,
        ocr=settings.ocr,
    )
    try:
        data = storage.original_path(settings.data_dir, sha256).read_bytes()
        rows: list[PageRecord] = []
        with open_document(data, options) as opened:
            for page in opened.pages():
                rows.append(_page_row(page, sha256, job_id, settings))
                on_page(len(rows), opened.page_count)
            return opened.file_type, rows
    except _Stopped:
        raise
    except BadInputError as error:
        return str(error)
    except FileNotFoundError:
        return "the stored original is missing (deleted while queued?)"
    except Exception as error:  # a bug or resource fault must not stop the batch either
        interrupts.raise_if_behind(error)
        logger.exception("unexpected error while processing document %s", sha256[:12])
        return f"internal error ({type(error).__name__}): {error}"


def _page_row(page: Page, sha256: str, job_id: int, settings: Settings) -> PageRecord:
    """A page row. Only pages read by OCR keep their image (app.services.pages renders the
    others); it is stored under this attempt's folder, so an attempt that turns out to be
    superseded removes its own images and never another attempt's."""
    relpath = None
    if page.text_source is TextSource.OCR:
        relpath = storage.page_image_relpath(sha256, page.index, attempt=job_id)
        storage.save_page_image(settings.data_dir, relpath, page.image)
    return PageRecord(
        index=page.index,
        width=page.width,
        height=page.height,
        dpi=page.dpi,
        text_source=str(page.text_source),
        image_path=relpath,
        words=encode_words(page.words),
    )


Outcome = tuple[FileType, list[PageRecord]] | str | None
"""Pages read, the reason the document failed, or None: it was ready already."""


def _finish(
    sessions: sessionmaker,
    settings: Settings,
    job_id: int,
    payload: IngestPayload,
    outcome: Outcome,
) -> list[int]:
    """Write the outcome with the job's completion, in one transaction, if the job is still
    running; otherwise keep nothing. Returns the follow-up jobs to dispatch."""
    failure = outcome if isinstance(outcome, str) else None
    with sessions() as session:
        job = session.get_one(JobRecord, job_id)
        document = job.document
        if not complete(session, job_id, *_completion(outcome)):
            session.rollback()  # cancelled or given up meanwhile
            storage.remove_page_images(settings.data_dir, document.sha256, attempt=job_id)
            return []
        if failure is not None:
            session.execute(delete(PageRecord).where(PageRecord.document_id == document.id))
            document.status, document.error, document.page_count = (
                DocumentStatus.FAILED,
                failure,
                0,
            )
        elif outcome is not None:
            _replace_pages(session, document, *outcome)
        followups = _follow_ups(session, job, payload, failure)
        session.commit()
    if failure is not None:  # no pages: no images, this attempt's or an earlier reading's
        storage.remove_page_images(settings.data_dir, document.sha256)
        logger.warning("document %s failed: %s", document.id, failure)
    elif outcome is not None:  # these pages replaced any earlier reading's
        storage.keep_page_images_of(settings.data_dir, document.sha256, attempt=job_id)
    return followups


def _completion(outcome: Outcome) -> tuple[JobStatus, str, int]:
    """The job's final status, message and page count for an outcome."""
    if isinstance(outcome, str):
        return JobStatus.FAILED, outcome, 0
    if outcome is None:
        return JobStatus.DONE, "already ready", 0
    return JobStatus.DONE, f"{len(outcome[1])} pages", len(outcome[1])


def _follow_ups(
    session: Session, job: JobRecord, payload: IngestPayload, failure: str | None
) -> list[int]:
    """The analyses to dispatch once the pages exist: this job's own, and those queued
    meanwhile by submissions of the same file (waiting on this job). If the document
    failed, the waiting ones fail with it."""
    waiting = waiting_on(session, job.id)
    if failure is not None:
        fail_jobs(session, waiting, f"the document failed: {failure}")
        return []
    own = queue_analysis(session, job.document_id, payload.then, job.id)
    return [*waiting, *([own] if own is not None else [])]


def _replace_pages(
    session: Session, document: DocumentRecord, file_type: FileType, pages: list[PageRecord]
) -> None:
    session.execute(delete(PageRecord).where(PageRecord.document_id == document.id))
    for page in pages:
        page.document_id = document.id
    session.add_all(pages)
    document.file_type = str(file_type)
    document.page_count = len(pages)
    document.dpi = pages[0].dpi if file_type is FileType.PDF and pages else None
    document.status = DocumentStatus.READY
    document.error = None
