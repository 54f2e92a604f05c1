"""Type detection goes by magic bytes only and names what it refuses."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from pipeline.errors import EmptyFileError, UnsupportedFileTypeError
from pipeline.filetypes import FileType, detect_file_type
from tests import badfiles


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7\n", FileType.PDF),
        (b"\xef\xbb\xbf\r\n%PDF-1.4\n", FileType.PDF),  # junk before the header is tolerated
        (b"\x89PNG\r\n\x1a\n\x00\x00", FileType.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", FileType.JPEG),
        (b"II*\x00\x08\x00\x00\x00", FileType.TIFF),
        (b"MM\x00*\x00\x00\x00\x08", FileType.TIFF),
    ],
)
def test_supported_types_are_recognised_by_magic_bytes(head: bytes, expected: FileType) -> None:
    assert detect_file_type(head + b"\x00" * 64) is expected


def test_mime_types() -> None:
    assert [t.mime for t in FileType] == [
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/tiff",
    ]


def test_empty_file_is_refused() -> None:
    with pytest.raises(EmptyFileError, match=r"^empty file \(0 bytes\)$"):
        detect_file_type(b"")


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00", "ZIP archive"),
        (b"GIF89a\x01\x00\x01\x00", "GIF image"),
        (b"\x1f\x8b\x08\x00", "gzip archive"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WebP image"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML page"),
        ("Grüße, just some notes\nline two\n".encode(), "plain text"),
        (bytes(range(256)), "unrecognised binary data"),
    ],
)
def test_unsupported_types_are_named(data: bytes, named: str) -> None:
    with pytest.raises(UnsupportedFileTypeError) as caught:
        detect_file_type(data)
    message = str(caught.value)
    assert message.startswith(f"unsupported file type: {named}")
    assert message.endswith("(only PDF, PNG, JPEG, TIFF)")


def _zip_storing(name: str, data: bytes) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zipped:
        zipped.writestr(name, data)
    return archive.getvalue()


def test_archives_and_polyglots_are_refused() -> None:
    pdf = badfiles.text_page_pdf(("Invoice 42",))
    stored = _zip_storing("invoice.pdf", pdf)
    assert b"%PDF-" in stored[:1024]  # what made it pass for a PDF
    with pytest.raises(UnsupportedFileTypeError, match="ZIP archive; a file that is also"):
        detect_file_type(stored)
    for document in (pdf, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64):
        with pytest.raises(UnsupportedFileTypeError, match="also a valid ZIP"):
            detect_file_type(document + _zip_storing("hidden.exe", b"MZ" * 50))


def test_real_documents_are_not_taken_for_archives(shared_data: Path) -> None:
    files = [p for p in shared_data.rglob("*") if p.suffix in (".pdf", ".jpg")]
    assert len(files) > 60
    for path in files:
        detect_file_type(path.read_bytes())


def test_pdf_header_beyond_the_first_kilobyte_is_not_a_pdf() -> None:
    with pytest.raises(UnsupportedFileTypeError, match="plain text"):
        detect_file_type(b" " * 2048 + b"%PDF-1.7\n")
