"""Files are replaced whole: through a temporary file beside the target, renamed over it,
and nothing is left behind when the write fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from app.services import storage


def _fail_rename(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """os.replace fails (a full disk, say); the temporary files it was given are listed."""
    renamed: list[Path] = []

    def replace(source: Path, _target: Path) -> None:
        renamed.append(Path(source))
        raise OSError("No space left on device")

    monkeypatch.setattr(os, "replace", replace)
    return renamed


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "originals" / "ab" / "abcd"
    storage.write_atomic(target, b"old")
    renamed = _fail_rename(monkeypatch)
    with pytest.raises(OSError, match="No space"):
        storage.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [path.parent for path in renamed] == [target.parent]  # same folder: one rename
    assert sorted(target.parent.iterdir()) == [target]


def test_a_page_image_is_a_png_and_a_failed_one_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relpath = storage.page_image_relpath("ab" * 32, 0, attempt=7)
    storage.save_page_image(tmp_path, relpath, Image.new("RGB", (8, 8), "white"))
    with Image.open(tmp_path / relpath) as saved:
        assert (saved.format, saved.size) == ("PNG", (8, 8))
    assert relpath == f"pages/{'ab' * 32}/job-7/00000.png"
    assert storage.page_image_relpath("ab" * 32, 3) == f"pages/{'ab' * 32}/view/00003.png"
    renamed = _fail_rename(monkeypatch)
    with pytest.raises(OSError):
        storage.save_page_image(tmp_path, relpath, Image.new("RGB", (8, 8), "black"))
    assert [path.parent for path in renamed] == [(tmp_path / relpath).parent]
    assert [path.name for path in (tmp_path / relpath).parent.iterdir()] == ["00000.png"]
    with Image.open(tmp_path / relpath) as kept:
        assert kept.getpixel((0, 0)) == (255, 255, 255)


def test_one_attempt_s_images_go_alone_and_the_last_takes_the_folder(tmp_path: Path) -> None:
    sha256 = "cd" * 32
    for attempt in (7, 8):
        relpath = storage.page_image_relpath(sha256, 0, attempt=attempt)
        storage.save_page_image(tmp_path, relpath, Image.new("RGB", (4, 4)))
    folder = tmp_path / "pages" / sha256
    storage.remove_page_images(tmp_path, sha256, attempt=7)
    assert [path.name for path in folder.iterdir()] == ["job-8"]
    storage.remove_page_images(tmp_path, sha256, attempt=8)
    assert not folder.exists()


def test_originals_keep_the_layout_existing_data_dirs_have(tmp_path: Path) -> None:
    """A data dir written by an earlier version must still find its originals."""
    sha256 = "ab" + "c" * 62
    assert storage.original_path(tmp_path, sha256) == tmp_path / "originals" / "ab" / sha256
