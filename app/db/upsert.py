"""INSERT ... ON CONFLICT on SQLite and PostgreSQL alike.

Two workers (or a worker re-running a task) can write the same result or register the same
file at once; letting the database resolve the conflict is the only race-free way, so every
write keyed by identity goes through here instead of select-then-insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, TextClause
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.db.models import Base, Timestamped, utcnow


def _insert(
    session: Session, model: type[Base], values: dict[str, Any]
) -> sqlite.Insert | postgresql.Insert:
    dialect = session.get_bind().dialect.name
    statement: sqlite.Insert | postgresql.Insert
    if dialect == "sqlite":
        statement = sqlite.insert(model)
    elif dialect == "postgresql":
        statement = postgresql.insert(model)
    else:
        raise NotImplementedError(f"upserts support sqlite and postgresql, not {dialect}")
    if not issubclass(model, Timestamped):
        return statement.values(**values)
    now = utcnow()
    return statement.values(**values, created_at=now, updated_at=now)


def upsert(session: Session, model: type[Base], values: dict[str, Any], key: Sequence[str]) -> None:
    """Insert `values`, or update the row with the same `key` columns."""
    statement = _insert(session, model, values)
    updates = {c: statement.excluded[c] for c in values if c not in key}
    if issubclass(model, Timestamped):
        updates["updated_at"] = statement.excluded.updated_at
    session.execute(statement.on_conflict_do_update(index_elements=list(key), set_=updates))


def insert_if_absent(
    session: Session,
    model: type[Base],
    values: dict[str, Any],
    key: Sequence[str],
    where: ColumnElement[bool] | TextClause | None = None,
) -> int | None:
    """Insert `values` unless a row with the same `key` exists (among the rows matching the
    partial unique index's `where`, if any); returns the new row's id, or None."""
    statement = _insert(session, model, values).on_conflict_do_nothing(
        index_elements=list(key), index_where=where
    )
    # RETURNING, not rowcount: drivers differ on rowcount for INSERT ... ON CONFLICT.
    row = session.execute(statement.returning(*model.__table__.primary_key)).first()
    return None if row is None else int(row[0])
