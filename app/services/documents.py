"""Documents: listing, lookup by id or sha256 prefix, and deletion with everything derived."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import (
    ACTIVE_JOB_STATUSES,
    DocumentRecord,
    JobRecord,
    PageRecord,
)
from app.errors import BadInputError, NotFoundError
from app.read_models import document_info
from app.schemas import DocumentInfo
from app.services import storage

MAX_ID = 2**63 - 1  # the largest id any supported database stores
ID = re.compile(r"[0-9]{1,19}")
SHA256_PREFIX = re.compile(r"[0-9a-f]{6,64}")


def list_documents(
    *,
    session: Session,
    status: str | None = None,
    name: str | None = None,
    text: str | None = None,
) -> list[DocumentInfo]:
    """Documents by id; filtered by status, by a piece of the file name, and by words on
    their pages (case-insensitive; a page must hold every word of `text`)."""
    query = select(DocumentRecord).order_by(DocumentRecord.id)
    if status is not None:
        query = query.where(DocumentRecord.status == status)
    if name:
        query = query.where(DocumentRecord.filename.ilike(f"%{_escaped(name)}%", escape="\\"))
    if text and text.split():
        words = cast(PageRecord.words, Text)
        on_pages = select(PageRecord.document_id).where(
            *(words.ilike(f"%{_escaped(term)}%", escape="\\") for term in text.split())
        )
        query = query.where(DocumentRecord.id.in_(on_pages))
    return [document_info(document) for document in session.scalars(query)]


def _escaped(text: str) -> str:
    """`text` as a LIKE pattern matching itself: % and _ are not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_document(*, session: Session, ref: str | int) -> DocumentInfo:
    return document_info(_find(session, ref))


def document_ids(*, session: Session, refs: list[str]) -> list[int]:
    """The ids of documents named by id or sha256 prefix (NotFoundError, BadInputError)."""
    return [_find(session, ref).id for ref in refs]


def _find(session: Session, ref: str | int) -> DocumentRecord:
    """A document by numeric id, or by a unique sha256 prefix of 6 to 64 hex digits."""
    text = str(ref).strip().lower()
    if ID.fullmatch(text):
        document = session.get(DocumentRecord, int(text)) if int(text) <= MAX_ID else None
        if document is None:
            raise NotFoundError(f"no document with id {text}")
        return document
    if not SHA256_PREFIX.fullmatch(text):
        raise BadInputError(
            f"{str(ref)!r} is neither a document id (digits) nor a sha256 prefix "
            "(6 to 64 hex digits)"
        )
    matches = session.scalars(
        select(DocumentRecord).where(DocumentRecord.sha256.startswith(text, autoescape=True))
    ).all()
    if len(matches) != 1:
        found = "no document" if not matches else f"{len(matches)} documents"
        raise NotFoundError(f"{found} with sha256 starting '{text}'")
    return matches[0]


@dataclass(frozen=True)
class Deletion:
    documents: list[DocumentInfo]
    revoke: list[str]  # task ids of queued jobs that were cancelled with them


def delete_documents(
    *, session: Session, settings: Settings, document_ids: Sequence[int]
) -> Deletion:
    """Delete documents with their pages, results, jobs, original and page images.

    Active jobs are locked first, in the same transaction, so a worker still running one
    waits, then finds it gone and writes nothing; their task ids are returned to revoke.
    Files go after the commit: a crash in between leaves files without rows (harmless,
    rewritten on the next ingest), never rows without files.
    """
    documents = {
        document_id: session.get(DocumentRecord, document_id) for document_id in document_ids
    }
    missing = [document_id for document_id, document in documents.items() if document is None]
    if missing:
        raise NotFoundError(f"no document with id {', '.join(map(str, missing))}")
    present = [document for document in documents.values() if document is not None]
    revoke = session.scalars(
        select(JobRecord.task_id)
        .where(JobRecord.document_id.in_(document_ids), JobRecord.status.in_(ACTIVE_JOB_STATUSES))
        .with_for_update()
    ).all()
    deleted = [document_info(document) for document in present]
    for document in present:
        session.delete(document)
    session.commit()
    for info in deleted:
        storage.original_path(settings.data_dir, info.sha256).unlink(missing_ok=True)
        storage.remove_page_images(settings.data_dir, info.sha256)
    return Deletion(deleted, [task_id for task_id in revoke if task_id])
