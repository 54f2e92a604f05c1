"""Engines and sessions. One engine per URL per process; SQLite gets foreign keys and WAL.

A forked child (a Celery prefork worker process) must not use connections its parent
opened: both would talk over the same socket. After a fork, every engine's pool is reset
without closing the parent's connections (SQLAlchemy's `dispose(close=False)`).
"""

from __future__ import annotations

import json
import os
from functools import partial
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import sessionmaker

_engines: dict[str, Engine] = {}


def database_engine(url: str) -> Engine:
    """A pooled engine for `url`; SQLite connections enforce foreign keys (off by default)."""
    if url not in _engines:
        _engines[url] = _create(url)
    return _engines[url]


def _create(url: str) -> Engine:
    # JSON columns hold words as written (not \u escapes), so text search finds "Größe".
    options: dict[str, Any] = {"json_serializer": partial(json.dumps, ensure_ascii=False)}
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _forget_inherited_connections() -> None:
    for engine in _engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def session_factory(url: str) -> sessionmaker:
    return sessionmaker(database_engine(url), expire_on_commit=False)
