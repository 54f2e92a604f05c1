"""Alembic owns the schema: migrations build exactly the models, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.config import Settings
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
