"""Alembic owns the schema: migrations build exactly the models, on both backends."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from app.config import Settings
from app.db import migrate
from app.db.migrate import upgrade
from app.db.models import Base
from app.db.session import database_engine


def test_migrations_match_models_and_are_idempotent(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.database_url)
    upgrade(settings.database_url)  # a second run is a no-op
    engine = database_engine(settings.database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert {"documents", "pages", "jobs", "answers", "fields"} <= set(
        inspect(engine).get_table_names()
    )


def test_a_database_locked_at_start_up_is_tried_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite says "database is locked" at once where waiting cannot help (processes starting
    together on a new file); start-up tries again instead of failing the run."""
    settings.data_dir.mkdir(parents=True)
    real, calls = migrate._upgrade_once, []

    def locked_twice(url: str, revision: str) -> None:
        calls.append(url)
        if len(calls) <= 2:
            raise OperationalError("PRAGMA journal_mode=WAL", {}, Exception("database is locked"))
        real(url, revision)

    monkeypatch.setattr(migrate, "_upgrade_once", locked_twice)
    monkeypatch.setattr(migrate.time, "sleep", lambda seconds: None)
    upgrade(settings.database_url)
    assert len(calls) == 3
    assert migrate.current_revision(settings.database_url) == migrate.head_revision()


def test_other_database_errors_are_not_retried(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def unreadable(url: str, revision: str) -> None:
        calls.append(url)
        raise OperationalError("SELECT 1", {}, Exception("unable to open database file"))

    monkeypatch.setattr(migrate, "_upgrade_once", unreadable)
    with pytest.raises(OperationalError, match="unable to open"):
        upgrade(settings.database_url)
    assert len(calls) == 1
