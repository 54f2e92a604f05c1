"""Fixtures shared by every test: paths to the real data and databases on both backends.

Database tests run against SQLite and against the real PostgreSQL server (127.0.0.1:5432,
or DOCFUSE_TEST_POSTGRES_URL). Each PostgreSQL test gets a fresh database of its own,
created from the `test` database and dropped afterwards, so tests never see each other.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import astuple
from importlib.metadata import version
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import Settings
from pipeline.types import Box, Word

REPO_ROOT = Path(__file__).resolve().parents[1]
# DOCFUSE_DEV_DATA points at the data from a copy of the tree elsewhere (`make mutation`).
SHARED_DATA = Path(os.environ.get("DOCFUSE_DEV_DATA") or REPO_ROOT.parent / "shared" / "data")
ICDAR_DIR = SHARED_DATA / "icdar2013-dev"
SROIE_DIR = SHARED_DATA / "sroie-dev"
POSTGRES_URL = os.environ.get(
    "DOCFUSE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the development data is missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """The URL of a brand-new PostgreSQL database, dropped after the test."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"docfuse_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # pragma: no cover - environment fault, reported loudly
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not usable: {error}")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    from app.db.session import database_engine

    database_engine(url).dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings with a private data dir, on SQLite and on PostgreSQL."""
    url = ""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database")
    return Settings(_env_file=None, data_dir=tmp_path / "data", database_url=url)


@pytest.fixture(scope="session", autouse=True)
def ocr_read_once_per_image(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each image is OCR'd once, for every test and every later run: the words are kept in
    pytest's cache folder, keyed by the sha256 of the pixels, the page index, the OCR code
    (`pipeline/ocr*.py`) and RapidOCR's version, so a change to any of them reads the image
    again. Several tests read the same receipts, and `make mutation` runs them once per
    mutant."""
    from pipeline import ocr

    cache = getattr(request.config, "cache", None)
    if cache is None:  # run with -p no:cacheprovider: read every time
        yield
        return
    folder = cache.mkdir("ocr-words")
    code = b"".join(path.read_bytes() for path in sorted(Path(ocr.__file__).parent.glob("ocr*.py")))
    code += version("rapidocr").encode()
    read = ocr.ocr_image

    def read_once(image: Image.Image, page_index: int) -> list[Word]:
        key = hashlib.sha256(code)
        key.update(f"{image.mode} {image.size} {page_index}".encode())
        key.update(image.tobytes())
        kept = folder / f"{key.hexdigest()}.json"
        if kept.exists():
            return [
                Word(text, Box(*box), score) for text, box, score in json.loads(kept.read_text())
            ]
        words = read(image, page_index)
        rows = [(w.text, astuple(w.box), w.confidence) for w in words]
        temporary = kept.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(rows))
        temporary.replace(kept)
        return words

    patch = pytest.MonkeyPatch()
    patch.setattr(ocr, "ocr_image", read_once)
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def memos_start_empty() -> None:
    """Each test parses its own dates and amounts: a memo filled by an earlier test would
    hide the parsing code from this one (and from `make mutation`, which runs for each
    mutant only the tests that reached its function)."""
    from pipeline.fields.normalize import find_amounts, find_dates

    find_dates.cache_clear()
    find_amounts.cache_clear()
