"""Database access: models, sessions and Alembic migrations."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from app.config import Settings
from app.db.migrate import upgrade
from app.db.session import session_factory


def open_database(settings: Settings) -> sessionmaker:
    """Sessions on the configured database, migrated to the latest schema first."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    return session_factory(settings.database_url)
