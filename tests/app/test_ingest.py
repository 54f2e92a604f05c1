"""Ingest end to end on real files, on SQLite and PostgreSQL: dedupe, bad input, atomicity."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.config import Settings
from app.db import open_database
from app.db.models import DocumentRecord, DocumentStatus, JobKind, JobRecord, PageRecord
from app.dispatch import Dispatcher, JobPageProgress
from app.errors import NotFoundError, NotReadyError
from app.read_models import SubmitOutcome
from app.services import storage
from app.services.ingest import (
    _file_kind,
    collect_paths,
    reprocess_document,
    run_ingest_job,
    submit_bytes,
    submit_file,
)
from app.services.jobs import cancel_job, enqueue, get_job, job_tree
from app.services.pages import load_pages, page_image_file
from app.services.payloads import AnalysisRequest, IngestPayload
from tests import badfiles
from tests.app.helpers import Ingested, ingest, pages_of
from tests.conftest import ICDAR_DIR, SROIE_DIR


def _counts(settings: Settings) -> tuple[int, int]:
    with open_database(settings)() as session:
        documents = session.scalar(select(func.count()).select_from(DocumentRecord))
        pages = session.scalar(select(func.count()).select_from(PageRecord))
    return documents, pages


def _status(result: Ingested) -> str:
    return "refused" if result.document is None else result.document.status


def test_born_digital_pdf_gets_pages_and_words_but_no_stored_image(settings: Settings) -> None:
    result = ingest(settings, ICDAR_DIR / "eu-001.pdf")
    assert result.submission.outcome is SubmitOutcome.QUEUED and _status(result) == "ready"
    with open_database(settings)() as session:
        document = session.get_one(DocumentRecord, result.document_id)
        assert document.file_type == "pdf" and document.dpi == settings.dpi
        assert document.page_count == len(document.pages) >= 1
        page = document.pages[0]
        assert page.text_source == "pdf" and page.image_path is None
        # A4/Letter at the configured DPI
        assert abs(page.width - 8.27 * settings.dpi) < 0.35 * settings.dpi
        texts = " ".join(word[0] for word in page.words)
        cell = ET.parse(ICDAR_DIR / "eu-001-str.xml").find(".//content").text
        assert cell.split()[0] in texts
        for _, x0, y0, x1, y1, _ in page.words:
            assert 0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1
    assert not (settings.data_dir / "pages").exists()  # nothing rendered during ingest
    rendered = pages_of(settings, result.document_id)[0].image  # rendered on demand
    assert rendered.size == (page.width, page.height)


def test_a_viewer_s_page_image_is_the_stored_scan_or_a_rendering_kept(
    settings: Settings, tmp_path: Path
) -> None:
    pdf = ingest(settings, badfiles.make_multipage_pdf(tmp_path, 2)).document_id
    scan = ingest(settings, badfiles.make_one_word_scan(tmp_path)).document_id
    with open_database(settings)() as session:
        document = session.get_one(DocumentRecord, pdf)
        path = page_image_file(settings, document, 1)
        assert path == settings.data_dir / storage.page_image_relpath(document.sha256, 1)
        with Image.open(path) as image:
            assert image.size == (document.pages[1].width, document.pages[1].height)
        kept = path.stat().st_mtime_ns
        assert page_image_file(settings, document, 1) == path
        assert path.stat().st_mtime_ns == kept  # rendered once
        with pytest.raises(NotFoundError, match=f"^document {pdf} has no page 2$"):
            page_image_file(settings, document, 2)
        scanned = session.get_one(DocumentRecord, scan)
        stored = settings.data_dir / scanned.pages[0].image_path
        assert page_image_file(settings, scanned, 0) == stored


def test_same_bytes_are_one_document(settings: Settings, tmp_path: Path) -> None:
    copy = tmp_path / "renamed-copy.pdf"
    shutil.copy(ICDAR_DIR / "eu-002.pdf", copy)
    first = ingest(settings, ICDAR_DIR / "eu-002.pdf")
    second = ingest(settings, copy)
    assert first.submission.outcome is SubmitOutcome.QUEUED
    assert second.submission.outcome is SubmitOutcome.KNOWN and second.submission.job_id is None
    assert first.document_id == second.document_id
    assert _counts(settings)[0] == 1


def test_scanned_receipt_is_ocred_and_keeps_its_image(settings: Settings) -> None:
    result = ingest(settings, SROIE_DIR / "images" / "000.jpg")
    assert _status(result) == "ready"
    with open_database(settings)() as session:
        page = session.get_one(DocumentRecord, result.document_id).pages[0]
        assert page.text_source == "ocr"
        assert page.dpi is None or page.dpi > 0
        assert page.image_path and (settings.data_dir / page.image_path).is_file()
        text = " ".join(word[0] for word in page.words).upper()
        assert "TAN WOON YANN" in text
        assert all(word[5] is not None and 0 < word[5] <= 1 for word in page.words)


BAD_FILES = {
    "corrupt PDF": badfiles.make_corrupt_pdf,
    "truncated PDF": badfiles.make_truncated_pdf,
    "encrypted PDF": badfiles.make_encrypted_pdf,
    "zero-byte file": badfiles.make_empty_file,
    "unsupported type": badfiles.make_unsupported_file,
    "decompression bomb": badfiles.make_decompression_bomb,
    "oversized page": badfiles.make_oversized_page_pdf,
    "damaged after page 1": badfiles.make_tiff_damaged_on_page_two,
}
REASON_WORDS = {
    "corrupt PDF": ["pdf"],
    "truncated PDF": ["truncated"],
    "encrypted PDF": ["password"],
    "zero-byte file": ["empty"],
    "unsupported type": ["unsupported"],
    "decompression bomb": ["pixels"],
    "oversized page": ["page ", "dpi"],
    "damaged after page 1": ["page 2", "cannot be decoded"],
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_input_fails_alone_and_leaves_nothing_half_written(
    settings: Settings, tmp_path: Path, kind: str
) -> None:
    """The bad file is failed with a readable reason, and the batch around it goes on."""
    folder = tmp_path / "batch"
    folder.mkdir()
    bad = BAD_FILES[kind](folder)
    good = badfiles.make_born_digital_pdf(folder)
    results = {path: ingest(settings, path) for path in sorted([bad, good])}
    assert _status(results[good]) == "ready"
    failed = results[bad]
    assert _status(failed) == "failed"
    for word in REASON_WORDS[kind]:
        assert word in failed.reason.lower(), failed.reason
    with open_database(settings)() as session:
        document = session.get_one(DocumentRecord, failed.document_id)
        assert document.pages == [] and document.page_count == 0
        good_pages = results[good].document.page_count
        assert session.scalar(select(func.count()).select_from(PageRecord)) == good_pages
        job = session.scalars(select(JobRecord).filter_by(document_id=document.id)).one()
        assert (job.status, job.message) == ("failed", failed.reason)
    assert not (settings.data_dir / "pages" / document.sha256).exists()


def _library_fault(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("a library lost its state")


def test_unexpected_error_fails_the_document_with_its_type(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pipeline.pages.open_document", _library_fault)
    failed = ingest(settings, badfiles.make_born_digital_pdf(tmp_path))
    assert _status(failed) == "failed"
    assert failed.reason == "internal error (RuntimeError): a library lost its state"


@pytest.mark.usefixtures("ctrl_c_pressed")
def test_an_error_after_ctrl_c_is_the_interrupt_not_the_document(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RapidOCR's loader turns a Ctrl-C into an error of its own: the run must still stop,
    not blame the document and go on to the next."""
    monkeypatch.setattr("pipeline.pages.open_document", _library_fault)
    with pytest.raises(KeyboardInterrupt):
        ingest(settings, badfiles.make_born_digital_pdf(tmp_path))


def test_png_named_pdf_is_ingested_as_png(settings: Settings, tmp_path: Path) -> None:
    result = ingest(settings, badfiles.make_png_named_pdf(tmp_path))
    assert _status(result) == "ready", result.reason
    assert result.document.file_type == "png"


def test_multipage_tiff_gives_one_page_per_frame(settings: Settings, tmp_path: Path) -> None:
    result = ingest(settings, badfiles.make_multipage_tiff(tmp_path))
    assert _status(result) == "ready", result.reason
    assert result.document.page_count == 3


def test_missing_file_is_reported_not_raised(settings: Settings, tmp_path: Path) -> None:
    result = ingest(settings, tmp_path / "nope.pdf")
    assert _status(result) == "refused" and result.reason == "no such file"
    assert result.submission.source == str(tmp_path / "nope.pdf")  # which of the files given


def test_file_over_the_size_limit_is_refused(settings: Settings, tmp_path: Path) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 1000})
    result = ingest(small, ICDAR_DIR / "eu-003.pdf")
    assert _status(result) == "refused" and result.reason == (  # read no further than the limit
        "file too large: over 1,000 bytes, the limit is 1,000 (DOCFUSE_MAX_UPLOAD_BYTES)"
    )
    with open_database(small)() as session:  # an upload's size is known
        data = (ICDAR_DIR / "eu-003.pdf").read_bytes()
        upload = submit_bytes(session=session, settings=small, data=data, filename="eu-003.pdf",
                              payload=IngestPayload(), source="upload")  # fmt: skip
    assert upload.reason == (
        f"file too large: {len(data):,} bytes, the limit is 1,000 (DOCFUSE_MAX_UPLOAD_BYTES)"
    )
    assert _counts(small) == (0, 0)


@pytest.mark.parametrize("special", ["a FIFO", "a character device"])
def test_special_files_are_refused_without_reading(
    settings: Settings, tmp_path: Path, special: str
) -> None:
    """A FIFO with no writer would block a read forever; /dev/zero never ends."""
    path = Path("/dev/zero") if special == "a character device" else tmp_path / "p.pdf"
    if special == "a FIFO":
        os.mkfifo(path)
    result = ingest(settings, path)
    assert _status(result) == "refused"
    assert result.reason == f"not a regular file ({special}): only files are read"


def test_a_folder_given_as_a_file_is_refused_by_name(settings: Settings, tmp_path: Path) -> None:
    result = ingest(settings, tmp_path)
    assert (_status(result), result.reason) == ("refused", "is a directory")


def test_reading_again_is_queued_once_and_names_an_unknown_document(
    settings: Settings, tmp_path: Path
) -> None:
    """A second request while the first is waiting is busy, not a second job."""
    document_id = ingest(settings, badfiles.make_born_digital_pdf(tmp_path)).document_id
    with open_database(settings)() as session:
        first = reprocess_document(session=session, document_id=document_id)
        second = reprocess_document(session=session, document_id=document_id)
        assert (first.outcome, first.document_id) == (SubmitOutcome.QUEUED, document_id)
        assert first.job_id is not None
        assert (second.outcome, second.document_id, second.job_id) == (
            SubmitOutcome.BUSY,
            document_id,
            None,
        )
        with pytest.raises(NotFoundError, match="^no document with id 999$"):
            reprocess_document(session=session, document_id=999)


def test_a_socket_is_refused_as_unreadable(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "p.pdf"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))
        result = ingest(settings, path)
    assert (_status(result), result.reason) == (
        "refused",
        "cannot read the file: No such device or address",  # the error's words, not its repr
    )


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        (stat.S_IFIFO, "a FIFO"),
        (stat.S_IFCHR, "a character device"),
        (stat.S_IFBLK, "a block device"),
        (stat.S_IFSOCK, "not a file"),
    ],
)
def test_what_is_not_a_regular_file_is_named(mode: int, kind: str) -> None:
    """Block devices and sockets, which a test cannot portably open, named as the others."""
    assert _file_kind(mode) == kind


def test_failed_document_is_retried_when_ingested_again(settings: Settings, tmp_path: Path) -> None:
    page_pdf = badfiles.make_oversized_page_pdf(tmp_path)
    assert _status(ingest(settings, page_pdf)) == "failed"
    low_dpi = settings.model_copy(update={"dpi": 36, "max_page_pixels": 10**9})
    retried = ingest(low_dpi, page_pdf)
    assert retried.submission.outcome is SubmitOutcome.QUEUED
    assert _status(retried) == "ready" and retried.document.page_count >= 1
    assert retried.document.error is None
    assert _counts(settings)[0] == 1


def test_folders_pick_documents_and_skip_label_files(tmp_path: Path) -> None:
    found = collect_paths([ICDAR_DIR], recursive=False)
    assert found and all(path.suffix == ".pdf" for path in found)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(SROIE_DIR / "images" / "000.jpg", nested / "scan-without-extension")
    (nested / "notes.txt").write_text("not a document")
    (nested / "notes").write_text("not a document either")  # no suffix, no known header
    shutil.copy(ICDAR_DIR / "eu-001.pdf", nested / "UPPER.PDF")
    shutil.copy(ICDAR_DIR / "eu-001.pdf", nested / ".hidden.pdf")  # an editor's or a sync's
    assert collect_paths([tmp_path], recursive=False) == []
    assert collect_paths([tmp_path], recursive=True) == [
        nested / "UPPER.PDF",
        nested / "scan-without-extension",
    ]
    named = nested / "notes.txt"  # a file named directly is always attempted, then the folder
    assert collect_paths([named, nested], recursive=False) == [
        named,
        nested / "UPPER.PDF",
        nested / "scan-without-extension",
    ]


def test_concurrent_submissions_of_one_file_claim_it_once(settings: Settings) -> None:
    """Processes racing on the same file: one document, one ingest job, nobody fails."""
    sessions = open_database(settings)
    data = (ICDAR_DIR / "eu-006.pdf").read_bytes()
    barrier = Barrier(4)

    def submit(name: str) -> SubmitOutcome:
        barrier.wait()
        with sessions() as session:
            return submit_bytes(
                session=session,
                settings=settings,
                data=data,
                filename=name,
                payload=IngestPayload(),
                source="test",
            ).outcome

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(submit, ["a.pdf", "b.pdf", "c.pdf", "d.pdf"]))
    assert sorted(outcomes) == ["busy", "busy", "busy", "queued"]
    assert _counts(settings) == (1, 0)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(JobRecord)) == 1


def test_each_processing_run_leaves_a_job_with_its_outcome(
    settings: Settings, tmp_path: Path
) -> None:
    good = ingest(settings, ICDAR_DIR / "eu-001.pdf")
    bad = ingest(settings, badfiles.make_truncated_pdf(tmp_path))
    with open_database(settings)() as session:
        jobs = {job.document_id: job for job in session.scalars(select(JobRecord))}
    done, failed = jobs[good.document_id], jobs[bad.document_id]
    pages = good.document.page_count
    assert (done.kind, done.status, done.pages_done, done.pages_total) == (
        "ingest",
        "done",
        pages,
        pages,
    )
    assert done.message == f"{pages} pages" and done.finished_at is not None
    assert done.started_at is not None and done.heartbeat_at is not None
    assert (failed.status, failed.message) == ("failed", bad.reason)
    assert good.document.status == DocumentStatus.READY


def test_the_page_limit_setting_reaches_ingest(settings: Settings, tmp_path: Path) -> None:
    limited = settings.model_copy(update={"max_pages": 2})
    result = ingest(limited, badfiles.make_multipage_pdf(tmp_path, 3))
    assert _status(result) == "failed"
    assert result.reason.startswith("3 pages, over the limit of 2 pages")


def test_the_ocr_setting_reaches_ingest(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DOCFUSE_OCR=false: a scan still becomes a page, but nothing reads its words."""
    monkeypatch.setenv("DOCFUSE_OCR", "false")
    no_ocr = Settings(
        _env_file=None, data_dir=settings.data_dir, database_url=settings.database_url
    )
    result = ingest(no_ocr, badfiles.make_one_word_scan(tmp_path))
    assert _status(result) == "ready"
    [page] = pages_of(no_ocr, result.document_id)
    assert (page.text_source, page.words) == ("ocr", [])


def _read_again(
    settings: Settings, document_id: int, on_page: JobPageProgress | None = None
) -> int:
    """What the UI's "Read the pages again" does, run here; the reading's job."""
    sessions = open_database(settings)
    with sessions() as session:
        job_id = reprocess_document(session=session, document_id=document_id).job_id
    assert job_id is not None
    Dispatcher(settings, sessions, on_page=on_page).send([job_id])
    return job_id


def _images(settings: Settings) -> list[str]:
    return sorted(
        p.relative_to(settings.data_dir).as_posix() for p in settings.data_dir.rglob("*.png")
    )


def test_reading_pages_again_replaces_them_and_their_images(
    settings: Settings, tmp_path: Path
) -> None:
    """The new reading's pages and images take the place of the old: nothing of the earlier
    reading stays, in the database or on disk."""
    scan = ingest(settings, badfiles.make_one_word_scan(tmp_path))
    [before] = _images(settings)
    _read_again(settings, scan.document_id)
    with open_database(settings)() as session:
        document = session.get_one(DocumentRecord, scan.document_id)
        [page] = document.pages
        assert (document.status, document.page_count) == ("ready", 1)
    assert _images(settings) == [page.image_path] and page.image_path != before


def test_a_document_that_fails_when_read_again_keeps_no_pages_or_images(
    settings: Settings, tmp_path: Path
) -> None:
    """Read again under a lower pixel cap, a ready scan fails, and its old pages and
    images go with it, as for any failed document."""
    scan = ingest(settings, badfiles.make_one_word_scan(tmp_path))
    assert _status(scan) == "ready" and _images(settings)
    _read_again(settings.model_copy(update={"max_page_pixels": 100_000}), scan.document_id)
    with open_database(settings)() as session:
        document = session.get_one(DocumentRecord, scan.document_id)
        assert (document.status, document.page_count, document.pages) == ("failed", 0, [])
        assert "over the cap" in document.error
    assert _images(settings) == []


def test_a_known_document_is_analysed_again_only_when_asked(
    settings: Settings, tmp_path: Path
) -> None:
    """Submitting a ready document again reads nothing; its analysis is queued unless the
    caller says known documents are done (a watched folder's second copy). The submission
    names the path given; the document, where it came from ("cli" unless said)."""
    path = badfiles.make_born_digital_pdf(tmp_path)
    first = ingest(settings, path)
    assert first.document is not None and first.document.source == "cli"
    then = IngestPayload(then=AnalysisRequest.of(["What is the total?"]))
    sessions = open_database(settings)
    asked = submit_file(sessions=sessions, settings=settings, path=path, payload=then)
    quiet = submit_file(
        sessions=sessions, settings=settings, path=path, payload=then, analyze_known=False
    )
    assert (asked.outcome, quiet.outcome) == (SubmitOutcome.KNOWN, SubmitOutcome.KNOWN)
    assert (asked.source, quiet.source, quiet.job_id) == (str(path), str(path), None)
    with sessions() as session:
        kinds = session.scalars(select(JobRecord.kind).order_by(JobRecord.id)).all()
        assert kinds == ["ingest", "analyze"] and asked.job_id is not None
        assert session.get_one(JobRecord, asked.job_id).kind == "analyze"


def test_stored_pages_come_back_as_they_were_read(settings: Settings, tmp_path: Path) -> None:
    """A scan's stored image reopens in RGB at its size; a born-digital page renders at the
    resolution it was read at; both keep their size and DPI."""
    scan = ingest(settings, badfiles.make_one_word_scan(tmp_path)).document_id
    pdf = ingest(settings, badfiles.make_born_digital_pdf(tmp_path)).document_id
    with open_database(settings)() as session:
        for document_id in (scan, pdf):
            document = session.get_one(DocumentRecord, document_id)
            (row,), (page,) = document.pages, load_pages(settings, document)
            assert (page.dpi, page.width, page.height) == (row.dpi, row.width, row.height)
            assert (page.image.mode, page.image.size) == ("RGB", (row.width, row.height))
            assert (row.image_path is not None) == (document_id == scan)  # stored, or rendered


def test_a_file_of_exactly_the_size_limit_is_taken(settings: Settings, tmp_path: Path) -> None:
    """The limit is the largest size accepted, whether the file is uploaded or read."""
    path = badfiles.make_born_digital_pdf(tmp_path)
    data = path.read_bytes()
    exact = settings.model_copy(update={"max_upload_bytes": len(data)})
    sessions = open_database(exact)
    with sessions() as session:
        upload = submit_bytes(session=session, settings=exact, data=data, filename="a.pdf",
                              payload=IngestPayload(), source="upload")  # fmt: skip
    assert (upload.outcome, upload.reason) == (SubmitOutcome.QUEUED, None)
    read = submit_file(sessions=sessions, settings=exact, path=path, payload=IngestPayload())
    assert (read.outcome, read.reason) == (SubmitOutcome.BUSY, None)


def test_an_upload_of_a_known_document_queues_its_analysis(
    settings: Settings, tmp_path: Path
) -> None:
    """The UI's uploads rely on submit_bytes analysing a known document unless told not to."""
    path = badfiles.make_born_digital_pdf(tmp_path)
    document_id = ingest(settings, path).document_id
    then = IngestPayload(then=AnalysisRequest.of(["What is the total?"]))
    with open_database(settings)() as session:
        known = submit_bytes(session=session, settings=settings, data=path.read_bytes(),
                             filename="again.pdf", payload=then, source="upload")  # fmt: skip
        assert (known.outcome, known.document_id) == (SubmitOutcome.KNOWN, document_id)
        assert known.job_id is not None
        assert get_job(session=session, job_id=known.job_id).kind == "analyze"


def test_a_file_submitted_while_it_is_read_waits_for_that_reading(
    settings: Settings, tmp_path: Path
) -> None:
    """A second submission of a file being read names that document and job, and its
    analysis, like the first's, is sent once the pages exist; until then the document has
    no pages."""
    path = badfiles.make_born_digital_pdf(tmp_path)
    sessions = open_database(settings)
    then = IngestPayload(then=AnalysisRequest.of(["What is the total?"]))
    first = submit_file(sessions=sessions, settings=settings, path=path, payload=then)
    busy = submit_file(sessions=sessions, settings=settings, path=path, payload=then)
    assert first.outcome is SubmitOutcome.QUEUED and first.job_id is not None
    assert (busy.outcome, busy.document_id, busy.job_id) == (
        SubmitOutcome.BUSY,
        first.document_id,
        first.job_id,
    )
    with sessions() as session:
        document = session.get_one(DocumentRecord, first.document_id)
        assert (document.status, document.page_count) == ("pending", 0)
        [waiting] = session.scalars(select(JobRecord).filter_by(kind="analyze")).all()
        assert (waiting.parent_id, waiting.status) == (first.job_id, "queued")
    followups = run_ingest_job(
        sessions=sessions, settings=settings, job_id=first.job_id, runner="test"
    )
    with sessions() as session:
        tree = job_tree(session=session, job_ids=[first.job_id])
    assert [(job.kind, job.status, job.parent_id) for job in tree] == [
        ("ingest", "done", None),
        ("analyze", "queued", first.job_id),  # the busy submission's
        ("analyze", "queued", first.job_id),  # the first's own
    ]
    assert followups == [tree[1].id, tree[2].id]
    assert tree[2].questions == ["What is the total?"]


def test_a_document_that_fails_fails_the_analyses_waiting_on_it_and_queues_none(
    settings: Settings, tmp_path: Path
) -> None:
    """No analysis runs on a document without pages: the one asked with the file is never
    queued, those of other submissions fail saying why, and the job counts no pages."""
    path = badfiles.make_encrypted_pdf(tmp_path)
    sessions = open_database(settings)
    then = IngestPayload(then=AnalysisRequest.of(["Total?"]))
    first = submit_file(sessions=sessions, settings=settings, path=path, payload=then)
    submit_file(sessions=sessions, settings=settings, path=path, payload=then)  # busy: waits
    assert first.job_id is not None
    followups = run_ingest_job(
        sessions=sessions, settings=settings, job_id=first.job_id, runner="test"
    )
    with sessions() as session:
        tree = job_tree(session=session, job_ids=[first.job_id])
    assert followups == []
    assert [(job.kind, job.status) for job in tree] == [("ingest", "failed"), ("analyze", "failed")]
    reading, waiting = tree
    assert (reading.pages_done, reading.pages_total) == (0, 0)
    assert waiting.message == f"the document failed: {reading.message}"


def test_an_ingest_job_that_finds_its_document_ready_reads_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    """A job queued for a document that another reading made ready keeps those pages, says
    so, counts no pages of its own, and still queues the analysis asked with it."""
    document_id = ingest(settings, badfiles.make_born_digital_pdf(tmp_path)).document_id
    sessions = open_database(settings)
    then = IngestPayload(then=AnalysisRequest.of(["What is the total?"]))
    with sessions() as session:
        job_id = enqueue(
            session, document_id=document_id, kind=JobKind.INGEST, payload=then.to_json()
        )
        session.commit()
    assert job_id is not None
    followups = run_ingest_job(sessions=sessions, settings=settings, job_id=job_id, runner="test")
    with sessions() as session:
        reading, analysis = job_tree(session=session, job_ids=[job_id])
        document = session.get_one(DocumentRecord, document_id)
        assert (document.status, document.page_count) == ("ready", 1)
    assert (reading.status, reading.message, reading.pages_done, reading.pages_total) == (
        "done",
        "already ready",
        0,
        0,
    )
    assert followups == [analysis.id] and analysis.parent_id == job_id


def test_the_dpi_asked_with_the_file_is_the_one_its_pdf_pages_are_read_at(
    settings: Settings, tmp_path: Path
) -> None:
    """`--dpi` overrides the worker's setting for this file's pages."""
    result = ingest(settings, badfiles.make_born_digital_pdf(tmp_path), dpi=72)
    assert settings.dpi != 72
    with open_database(settings)() as session:
        document = session.get_one(DocumentRecord, result.document_id)
        assert (document.dpi, [page.dpi for page in document.pages]) == (72, [72])


def test_an_image_document_has_no_render_dpi_though_its_pages_keep_their_own(
    settings: Settings, tmp_path: Path
) -> None:
    """A document's dpi is the one its PDF pages are rendered at: an image has none."""
    path = tmp_path / "scan.png"
    Image.new("RGB", (300, 200), "white").save(path, dpi=(300, 300))
    result = ingest(settings.model_copy(update={"ocr": False}), path)
    with open_database(settings)() as session:
        document = session.get_one(DocumentRecord, result.document_id)
        assert (document.file_type, document.dpi, document.pages[0].dpi) == ("png", None, 300)


def test_an_original_deleted_while_queued_fails_its_document_saying_so(
    settings: Settings, tmp_path: Path
) -> None:
    """Someone cleaning the data dir by hand must learn why the document failed."""
    sessions = open_database(settings)
    path = badfiles.make_born_digital_pdf(tmp_path)
    queued = submit_file(sessions=sessions, settings=settings, path=path, payload=IngestPayload())
    with sessions() as session:
        sha256 = session.get_one(DocumentRecord, queued.document_id).sha256
    storage.original_path(settings.data_dir, sha256).unlink()
    Dispatcher(settings, sessions).send([queued.job_id])
    with sessions() as session:
        document = session.get_one(DocumentRecord, queued.document_id)
        assert (document.status, document.error) == (
            "failed",
            "the stored original is missing (deleted while queued?)",
        )


def _read_again_cancelled_on_page(settings: Settings, document_id: int, page: int) -> int:
    """Read the document again, cancelling the reading once it has read `page` pages."""
    sessions = open_database(settings)
    seen: list[int] = []

    def cancel(job: int, done: int, total: int) -> None:
        seen.append(done)
        if done == page:
            assert len(_images(settings)) > page  # this reading's scans beside the earlier
            with sessions() as session:
                cancel_job(session=session, job_id=job)
            if done < total:
                time.sleep(0.5)  # let a heartbeat notice before the next page

    job_id = _read_again(settings, document_id, on_page=cancel)
    assert seen == list(range(1, page + 1))  # stopped at the next page, if there was one
    with sessions() as session:
        assert get_job(session=session, job_id=job_id).status == "cancelled"
    return job_id


@pytest.mark.parametrize("page", [1, 3], ids=["between pages", "after the last page"])
def test_a_cancelled_reading_again_removes_its_page_images_only(
    settings: Settings, tmp_path: Path, page: int
) -> None:
    """A reading cancelled between pages or once it has read them all removes the images it
    stored, and only those: the earlier reading's images, which its pages show, stay."""
    fast = settings.model_copy(update={"ocr": False, "heartbeat_interval_s": 0.05})
    document_id = ingest(fast, badfiles.make_multipage_tiff(tmp_path)).document_id
    before = _images(fast)
    assert len(before) == 3
    _read_again_cancelled_on_page(fast, document_id, page)
    assert _images(fast) == before
    with open_database(fast)() as session:  # its earlier reading stands
        document = session.get_one(DocumentRecord, document_id)
        assert (document.status, document.error, len(document.pages)) == ("ready", None, 3)


def test_a_document_not_yet_read_is_refused_saying_so(settings: Settings, tmp_path: Path) -> None:
    submission = submit_file(
        sessions=open_database(settings),
        settings=settings,
        path=badfiles.make_born_digital_pdf(tmp_path),
        payload=IngestPayload(),
    )
    with pytest.raises(NotReadyError, match=rf"^document {submission.document_id} is pending$"):
        pages_of(settings, submission.document_id)
