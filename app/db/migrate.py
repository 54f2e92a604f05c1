"""Bring a database to the latest schema with Alembic (which owns the schema).

Every process migrates before it uses the database, so several processes starting at once
on a new database (two workers, a CLI beside them) would race to create the same tables.
Migrations are therefore serialised: a PostgreSQL advisory lock held for the migration's
transaction, or an exclusive file lock beside a SQLite database file. The process that gets
the lock second finds the schema current and does nothing.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.db.session import database_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
ADVISORY_LOCK_KEY = 0x646F6366_75736501  # "docfuse" + 1: one lock for every docfuse schema
LOCKED_ATTEMPTS = 5  # SQLite "database is locked" at start-up: tried again after 0.2-0.8 s


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    """The revision the database is at (None when it has no schema yet)."""
    with database_engine(url).connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every pending migration to the database at `url` (idempotent, concurrency-safe).

    SQLite answers "database is locked" at once, without waiting out its busy timeout, when
    waiting could not help: a WAL read transaction that must become a write after another
    process wrote, or two connections switching a new file to WAL together. Processes that
    start on one new database at once meet exactly that, so such an answer is retried.
    """
    for attempt in range(1, LOCKED_ATTEMPTS + 1):
        try:
            return _upgrade_once(url, revision)
        except OperationalError as error:
            if attempt == LOCKED_ATTEMPTS or "database is locked" not in str(error.orig):
                raise
            time.sleep(0.2 * attempt)


def _upgrade_once(url: str, revision: str) -> None:
    if revision == "head" and current_revision(url) == head_revision():
        return
    with _file_lock(url), database_engine(url).begin() as connection:
        _advisory_lock(connection)
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _advisory_lock(connection: Connection) -> None:
    """On PostgreSQL, wait for any other migrating process; released at commit."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})


@contextmanager
def _file_lock(url: str) -> Iterator[None]:
    """On a SQLite file, hold `<file>.migrate.lock` exclusively; elsewhere, nothing."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        yield
        return
    lock_path = Path(f"{parsed.database}.migrate.lock")
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
