"""File type detection by magic bytes.

Uploads and watched folders carry user-chosen names, so the extension proves nothing: a
`.pdf` holding PNG bytes is a PNG. The type is read from the first bytes only, and a file we
refuse is named by what it looks like so the user can tell what went wrong.
"""

from __future__ import annotations

import io
import logging
import zipfile
from enum import StrEnum

from pipeline.errors import EmptyFileError, UnsupportedFileTypeError

logger = logging.getLogger(__name__)

SUPPORTED_NAMES = "PDF, PNG, JPEG, TIFF"

# How far into the file a PDF header may start: PDF readers accept a %PDF- header
# preceded by some junk (e.g. a mail or HTTP envelope) within the first kilobyte.
PDF_HEADER_WINDOW = 1024


class FileType(StrEnum):
    """A document type docfuse can read."""

    PDF = "pdf"
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"

    @property
    def mime(self) -> str:
        """The MIME type to store and serve the original file with."""
        return _MIME[self]

    @property
    def is_image(self) -> bool:
        return self is not FileType.PDF


_MIME = {
    FileType.PDF: "application/pdf",
    FileType.PNG: "image/png",
    FileType.JPEG: "image/jpeg",
    FileType.TIFF: "image/tiff",
}

_SUPPORTED_MAGIC: tuple[tuple[bytes, FileType], ...] = (
    (b"\x89PNG\r\n\x1a\n", FileType.PNG),
    (b"\xff\xd8\xff", FileType.JPEG),
    (b"II*\x00", FileType.TIFF),
    (b"MM\x00*", FileType.TIFF),
)

_ARCHIVES = {"ZIP archive", "gzip archive", "RAR archive", "7-Zip archive"}
MIN_ZIP_BYTES = 22  # an empty ZIP is its 22-byte end-of-central-directory record alone

# Formats people commonly upload by mistake, named in the refusal message.
_KNOWN_UNSUPPORTED: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "ZIP archive"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Microsoft Office document"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"BM", "BMP image"),
    (b"II+\x00", "BigTIFF image"),
    (b"MM\x00+", "BigTIFF image"),
    (b"%!PS", "PostScript document"),
    (b"{\\rtf", "RTF document"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000 image"),
)


def detect_file_type(data: bytes) -> FileType:
    """Return the type of `data` from its magic bytes, or raise a `BadInputError`.

    An archive is refused before anything else: a ZIP that stores a PDF uncompressed has
    `%PDF-` within its first kilobyte, and a PDF or image with a ZIP appended (a polyglot)
    opens as either; a file that is also a container is not a document docfuse reads.
    """
    if not data:
        raise EmptyFileError("empty file (0 bytes)")
    container = _container(data)
    if container is not None:
        raise UnsupportedFileTypeError(
            f"unsupported file type: {container}; a file that is also an archive is refused "
            f"(only {SUPPORTED_NAMES})"
        )
    for magic, file_type in _SUPPORTED_MAGIC:
        if data.startswith(magic):
            return file_type
    if b"%PDF-" in data[:PDF_HEADER_WINDOW]:
        return FileType.PDF
    what = describe_unsupported(data)
    logger.debug("refusing %s", what)
    raise UnsupportedFileTypeError(f"unsupported file type: {what} (only {SUPPORTED_NAMES})")


def _container(data: bytes) -> str | None:
    """The archive `data` is (or also is), if any: by its leading magic, or by a valid ZIP
    end-of-central-directory record (what makes a ZIP readable from its end)."""
    for magic, name in _KNOWN_UNSUPPORTED:
        if name in _ARCHIVES and data.startswith(magic):
            return name
    if len(data) > MIN_ZIP_BYTES and zipfile.is_zipfile(io.BytesIO(data)):
        return "ZIP archive (the file is also a valid ZIP)"
    return None


def describe_unsupported(data: bytes) -> str:
    """Name what the (unsupported) bytes look like, as well as can be told cheaply."""
    for magic, name in _KNOWN_UNSUPPORTED:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP image"
    if data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "HEIC image"
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "HTML page"
    if head.startswith(b"<?xml") or head.startswith(b"<svg"):
        return "XML or SVG document"
    if _looks_like_text(data[:4096]):
        return "plain text"
    return "unrecognised binary data"


def _looks_like_text(sample: bytes) -> bool:
    """UTF-8 without control characters other than whitespace reads as text."""
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        # A cut in the middle of a multi-byte character at the sample's end is fine.
        try:
            text = sample[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
