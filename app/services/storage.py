"""Files under the data dir: originals by sha256, rendered page images by document.

Paths are built from hashes and indices only, never from a user's filename. Writes go to a
temporary name first and are renamed into place, so a crash never leaves a partial file
under a final name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image


def original_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / "originals" / sha256[:2] / sha256


def page_image_relpath(sha256: str, index: int, *, attempt: int | None = None) -> str:
    """Where a page image lives: under the ingest attempt (job id) that read the page, or
    under `view/` for a rendering made on demand for a viewer."""
    return f"pages/{sha256}/{_images_of(attempt)}/{index:05d}.png"


def _document_images(data_dir: Path, sha256: str) -> Path:
    """The folder of all a document's page images (the start of every page_image_relpath)."""
    return data_dir / "pages" / sha256


def _images_of(attempt: int | None) -> str:
    """The folder, under a document's, of an attempt's page images (None: the viewer's)."""
    return "view" if attempt is None else f"job-{attempt}"


def write_atomic(path: Path, data: bytes) -> None:
    _replace_atomically(path, lambda tmp: tmp.write_bytes(data))


def save_page_image(data_dir: Path, relpath: str, image: Image.Image) -> None:
    """Store a rendered page for the UI. Low PNG compression: ingest speed matters more."""
    _replace_atomically(
        data_dir / relpath, lambda tmp: image.save(tmp, format="PNG", compress_level=3)
    )


def _replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write a temporary file beside `path`, then rename it over `path`: readers find the
    old file or the new one, never part of one, and a failed write leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_page_images(data_dir: Path, sha256: str, *, attempt: int | None = None) -> None:
    """Remove a document's page images: all of them, or those of one ingest attempt."""
    folder = _document_images(data_dir, sha256)
    shutil.rmtree(folder if attempt is None else folder / _images_of(attempt), ignore_errors=True)
    with contextlib.suppress(OSError):  # still holds another attempt's images: keep it
        folder.rmdir()  # nothing of the document left behind, not even its empty folder


def keep_page_images_of(data_dir: Path, sha256: str, *, attempt: int) -> None:
    """Remove a document's page images but those of ingest attempt `attempt`, whose pages
    are now the document's: earlier readings' images and renderings made for a viewer."""
    folder = _document_images(data_dir, sha256)
    if folder.is_dir():
        for other in folder.iterdir():
            if other.name != _images_of(attempt):
                shutil.rmtree(other, ignore_errors=True)
