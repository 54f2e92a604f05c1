"""Reading documents back: listing and lookup by id or sha256 prefix."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Document


class DocumentNotFoundError(LookupError):
    """No document matches the reference a user gave."""


def list_documents(*, session: Session, status: str | None = None) -> Sequence[Document]:
    query = select(Document).order_by(Document.id)
    if status is not None:
        query = query.where(Document.status == status)
    return session.scalars(query).all()


def get_document(*, session: Session, ref: str | int) -> Document:
    """A document by numeric id, or by a unique sha256 prefix of at least 6 characters."""
    text = str(ref).strip().lower()
    if text.isdigit():
        document = session.get(Document, int(text))
        if document is None:
            raise DocumentNotFoundError(f"no document with id {text}")
        return document
    if len(text) < 6:
        raise DocumentNotFoundError(f"'{ref}' is neither an id nor a sha256 prefix (6+ chars)")
    matches = session.scalars(select(Document).where(Document.sha256.startswith(text))).all()
    if len(matches) != 1:
        found = "no document" if not matches else f"{len(matches)} documents"
        raise DocumentNotFoundError(f"{found} with sha256 starting '{text}'")
    return matches[0]
