"""Ingest end to end on real files, on SQLite and PostgreSQL: dedupe, bad input, atomicity."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import open_database
from app.db.models import Document, DocumentStatus, Page
from app.services.ingest import IngestStatus, collect_paths, ingest_path
from tests import badfiles
from tests.conftest import ICDAR_DIR, SROIE_DIR


def _ingest(settings: Settings, path: Path):
    return ingest_path(sessions=open_database(settings), settings=settings, path=path)


def _counts(settings: Settings) -> tuple[int, int]:
    with open_database(settings)() as session:
        documents = session.scalar(select(func.count()).select_from(Document))
        pages = session.scalar(select(func.count()).select_from(Page))
    return documents, pages


def test_born_digital_pdf_gets_pages_words_and_images(settings: Settings) -> None:
    result = _ingest(settings, ICDAR_DIR / "eu-001.pdf")
    assert result.status is IngestStatus.NEW
    with open_database(settings)() as session:
        document = session.get_one(Document, result.document_id)
        assert document.status == DocumentStatus.READY
        assert document.file_type == "pdf" and document.dpi == settings.dpi
        assert document.page_count == len(document.pages) == result.page_count >= 1
        page = document.pages[0]
        assert page.text_source == "pdf"
        assert (settings.data_dir / page.image_path).is_file()
        # A4/Letter at the configured DPI
        assert abs(page.width - 8.27 * settings.dpi) < 0.35 * settings.dpi
        texts = " ".join(word[0] for word in page.words)
        cell = ET.parse(ICDAR_DIR / "eu-001-str.xml").find(".//content").text
        assert cell.split()[0] in texts
        for _, x0, y0, x1, y1, _ in page.words:
            assert 0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1


def test_same_bytes_are_one_document(settings: Settings, tmp_path: Path) -> None:
    copy = tmp_path / "renamed-copy.pdf"
    shutil.copy(ICDAR_DIR / "eu-002.pdf", copy)
    first = _ingest(settings, ICDAR_DIR / "eu-002.pdf")
    second = _ingest(settings, copy)
    assert (first.status, second.status) == (IngestStatus.NEW, IngestStatus.KNOWN)
    assert first.document_id == second.document_id
    assert _counts(settings)[0] == 1


def test_scanned_receipt_is_ocred(settings: Settings) -> None:
    result = _ingest(settings, SROIE_DIR / "images" / "000.jpg")
    assert result.status is IngestStatus.NEW
    with open_database(settings)() as session:
        page = session.get_one(Document, result.document_id).pages[0]
        assert page.text_source == "ocr"
        assert page.dpi is None or page.dpi > 0
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
}
REASON_WORDS = {
    "corrupt PDF": ["pdf"],
    "truncated PDF": ["truncated"],
    "encrypted PDF": ["password"],
    "zero-byte file": ["empty"],
    "unsupported type": ["unsupported"],
    "decompression bomb": ["pixels"],
    "oversized page": ["page ", "dpi"],
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
    results = [_ingest(settings, path) for path in sorted([bad, good])]
    by_path = {Path(result.path): result for result in results}
    assert by_path[good].status is IngestStatus.NEW
    failed = by_path[bad]
    assert failed.status is IngestStatus.FAILED
    for word in REASON_WORDS[kind]:
        assert word in failed.reason.lower(), failed.reason
    with open_database(settings)() as session:
        document = session.get_one(Document, failed.document_id)
        assert document.status == DocumentStatus.FAILED and document.error == failed.reason
        assert document.pages == [] and document.page_count == 0
        assert session.scalar(select(func.count()).select_from(Page)) == by_path[good].page_count
    assert not (settings.data_dir / "pages" / document.sha256).exists()


def test_png_named_pdf_is_ingested_as_png(settings: Settings, tmp_path: Path) -> None:
    result = _ingest(settings, badfiles.make_png_named_pdf(tmp_path))
    assert result.status is IngestStatus.NEW, result.reason
    with open_database(settings)() as session:
        assert session.get_one(Document, result.document_id).file_type == "png"


def test_multipage_tiff_gives_one_page_per_frame(settings: Settings, tmp_path: Path) -> None:
    result = _ingest(settings, badfiles.make_multipage_tiff(tmp_path))
    assert result.status is IngestStatus.NEW, result.reason
    assert result.page_count == 3


def test_missing_file_is_reported_not_raised(settings: Settings, tmp_path: Path) -> None:
    result = _ingest(settings, tmp_path / "nope.pdf")
    assert result.status is IngestStatus.FAILED and result.reason == "no such file"


def test_file_over_the_size_limit_is_refused(settings: Settings, tmp_path: Path) -> None:
    small = settings.model_copy(update={"max_upload_bytes": 1000})
    result = _ingest(small, ICDAR_DIR / "eu-003.pdf")
    assert result.status is IngestStatus.FAILED and "too large" in result.reason
    assert _counts(small) == (0, 0)


def test_failed_document_is_retried_when_ingested_again(settings: Settings, tmp_path: Path) -> None:
    page_pdf = badfiles.make_oversized_page_pdf(tmp_path)
    assert _ingest(settings, page_pdf).status is IngestStatus.FAILED
    low_dpi = settings.model_copy(update={"dpi": 36, "max_page_pixels": 10**9})
    retried = _ingest(low_dpi, page_pdf)
    assert retried.status is IngestStatus.NEW and retried.page_count >= 1
    assert _counts(settings)[0] == 1


def test_folders_pick_documents_and_skip_label_files(tmp_path: Path) -> None:
    found = collect_paths([ICDAR_DIR], recursive=False)
    assert found and all(path.suffix == ".pdf" for path in found)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    shutil.copy(SROIE_DIR / "images" / "000.jpg", nested / "scan-without-extension")
    (nested / "notes.txt").write_text("not a document")
    assert collect_paths([tmp_path], recursive=False) == []
    assert collect_paths([tmp_path], recursive=True) == [nested / "scan-without-extension"]


def test_concurrent_registrations_of_one_file_give_one_document(settings: Settings) -> None:
    """Workers racing on the same upload: the database settles it, nobody fails."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from app.services.ingest import register_document

    sessions = open_database(settings)
    data = (ICDAR_DIR / "eu-006.pdf").read_bytes()
    barrier = Barrier(4)

    def register(name: str) -> bool:
        barrier.wait()
        with sessions() as session:
            _, is_new = register_document(
                session=session, settings=settings, data=data, filename=name, source="test"
            )
        return is_new

    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(register, ["a.pdf", "b.pdf", "c.pdf", "d.pdf"]))
    assert sorted(outcomes) == [False, False, False, True]
    assert _counts(settings) == (1, 0)


def test_each_processing_run_leaves_a_job_with_its_outcome(
    settings: Settings, tmp_path: Path
) -> None:
    from app.db.models import Job

    good = _ingest(settings, ICDAR_DIR / "eu-001.pdf")
    bad = _ingest(settings, badfiles.make_truncated_pdf(tmp_path))
    with open_database(settings)() as session:
        jobs = {job.document_id: job for job in session.scalars(select(Job))}
    done, failed = jobs[good.document_id], jobs[bad.document_id]
    assert (done.kind, done.status, done.progress) == ("ingest", "done", 1.0)
    assert done.message == f"{good.page_count} pages" and done.finished_at is not None
    assert (failed.status, failed.message) == ("failed", bad.reason)
