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
from pathlib import Path

from PIL import Image


def original_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / "originals" / sha256[:2] / sha256


def page_image_relpath(sha256: str, index: int, *, attempt: int | None = None) -> str:
    """Where a page image lives: under the ingest attempt (job id) that read the page, or
    under `view/` for a rendering made on demand for a viewer."""
    folder = "view" if attempt is None else f"job-{attempt}"
    return f"pages/{sha256}/{folder}/{index:05d}.png"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_page_image(data_dir: Path, relpath: str, image: Image.Image) -> None:
    """Store a rendered page for the UI. Low PNG compression: ingest speed matters more."""
    path = data_dir / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
    os.close(fd)
    try:
        image.save(tmp, format="PNG", compress_level=3)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_page_images(data_dir: Path, sha256: str, *, attempt: int | None = None) -> None:
    """Remove a document's page images: all of them, or those of one ingest attempt."""
    folder = data_dir / "pages" / sha256
    shutil.rmtree(folder if attempt is None else folder / f"job-{attempt}", ignore_errors=True)
    with contextlib.suppress(OSError):  # still holds another attempt's images: keep it
        folder.rmdir()  # nothing of the document left behind, not even its empty folder


def keep_page_images_of(data_dir: Path, sha256: str, *, attempt: int) -> None:
    """Remove a document's page images but those of ingest attempt `attempt`, whose pages
    are now the document's: earlier readings' images and renderings made for a viewer."""
    folder = data_dir / "pages" / sha256
    if folder.is_dir():
        for other in folder.iterdir():
            if other.name != f"job-{attempt}":
                shutil.rmtree(other, ignore_errors=True)
