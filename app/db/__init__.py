"""Database access: models, sessions and Alembic migrations."""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import sessionmaker

from app.config import Settings
from app.db.migrate import upgrade
from app.db.session import session_factory
from app.errors import SetupError

SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def open_database(settings: Settings) -> sessionmaker:
    """Sessions on the configured database, migrated to the latest schema first. A data dir
    or database that cannot be used raises SetupError naming the setting, in one line."""
    prepare_data_dir(settings.data_dir)
    _check_backend(settings.database_url)
    try:
        upgrade(settings.database_url)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as error:
        raise SetupError(
            f"DOCFUSE_DATABASE_URL={_shown(settings.database_url)} is not a database URL "
            f"docfuse can use: {_first_line(error)}"
        ) from error
    except OperationalError as error:
        raise SetupError(
            f"DOCFUSE_DATABASE_URL={_shown(settings.database_url)}: cannot open the "
            f"database: {_first_line(error.orig or error)}"
        ) from error
    return session_factory(settings.database_url)


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data dir and prove it writable (a test file), or say which it is not."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except FileExistsError as error:
        raise SetupError(f"DOCFUSE_DATA_DIR={data_dir} is a file, not a folder") from error
    except OSError as error:
        raise SetupError(
            f"DOCFUSE_DATA_DIR={data_dir} cannot be used: {error.strerror or error}"
        ) from error


def _check_backend(url: str) -> None:
    """docfuse writes with INSERT ... ON CONFLICT as SQLite and PostgreSQL spell it."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError as error:
        raise SetupError(
            f"DOCFUSE_DATABASE_URL={_shown(url)} is not a database URL: {_first_line(error)}"
        ) from error
    if backend not in SUPPORTED_BACKENDS:
        raise SetupError(
            f"DOCFUSE_DATABASE_URL={_shown(url)}: docfuse stores its data in SQLite or "
            "PostgreSQL (sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
        )


def _shown(url: str) -> str:
    """The URL as it may be printed: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
