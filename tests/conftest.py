"""Fixtures shared by every test: paths to the real data and databases on both backends.

Database tests run against SQLite and against the real PostgreSQL server (127.0.0.1:5432,
or DOCFUSE_TEST_POSTGRES_URL). Each PostgreSQL test gets a fresh database of its own,
created from the `test` database and dropped afterwards, so tests never see each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
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
