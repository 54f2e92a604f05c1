"""Documents through the service: filters, lookup by id or sha256 prefix, and deletion."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from app.config import Settings
from app.db import open_database
from app.db.models import DocumentRecord, JobRecord, JobStatus
from app.errors import BadInputError, NotFoundError
from app.services import storage
from app.services.documents import (
    delete_documents,
    document_ids,
    get_document,
    list_documents,
)
from app.services.ingest import submit_file
from app.services.payloads import IngestPayload
from tests import badfiles
from tests.app.helpers import ingest


def _pdf(folder: Path, name: str, *lines: str) -> Path:
    path = badfiles.make_born_digital_pdf(folder / name.replace(".", "_"), lines)
    return path.rename(path.with_name(name))


@pytest.fixture
def three(settings: Settings, tmp_path: Path) -> list[int]:
    """Two ready documents and one that failed."""
    ready = [
        ingest(settings, _pdf(tmp_path, "a_b%.pdf", "Invoice ACME Ltd", "Total 12.50 (10%)")),
        ingest(settings, _pdf(tmp_path, "axb.pdf", "Receipt Corner Shop", "Total 3.00")),
        ingest(settings, badfiles.make_encrypted_pdf(tmp_path)),
    ]
    return [result.document_id for result in ready]


def _names(settings: Settings, **filters: str) -> list[str]:
    with open_database(settings)() as session:
        return [d.filename for d in list_documents(session=session, **filters)]


def test_filters_by_status_name_and_words(settings: Settings, three: list[int]) -> None:
    assert _names(settings) == ["a_b%.pdf", "axb.pdf", "encrypted.pdf"]
    assert _names(settings, status="failed") == ["encrypted.pdf"]
    assert _names(settings, status="ready") == ["a_b%.pdf", "axb.pdf"]
    assert _names(settings, name="A_B") == ["a_b%.pdf"]  # "_" is a character, not a wildcard
    assert _names(settings, name="b%") == ["a_b%.pdf"]  # and so is "%"
    assert _names(settings, name="x") == ["axb.pdf"]
    assert _names(settings, text="total acme") == ["a_b%.pdf"]  # every word, any case
    assert _names(settings, text="total") == ["a_b%.pdf", "axb.pdf"]
    assert _names(settings, text="acme shop") == []
    assert _names(settings, text="10%)") == ["a_b%.pdf"]  # in words too, "%" is itself
    assert _names(settings, text="12_50") == []  # and "_" no wildcard for the "." of 12.50
    assert _names(settings, text="   ") == ["a_b%.pdf", "axb.pdf", "encrypted.pdf"]


def test_a_backslash_in_a_name_is_searched_as_itself(settings: Settings, tmp_path: Path) -> None:
    ingest(settings, _pdf(tmp_path, "back\\slash.pdf", "Invoice 1"))
    ingest(settings, _pdf(tmp_path, "backslash.pdf", "Invoice 2"))
    assert _names(settings, name="k\\s") == ["back\\slash.pdf"]


def _lettered_prefix(sha256: str) -> str:
    """The shortest prefix of six or more hex digits with a letter in it: one of digits
    alone names a document by id (these PDFs carry their creation time, so hashes vary)."""
    return next(sha256[:n] for n in range(6, 65) if not sha256[:n].isdigit())


def test_a_document_is_found_by_id_or_sha256_prefix(settings: Settings, three: list[int]) -> None:
    with open_database(settings)() as session:
        first = get_document(session=session, ref=three[0])
        prefix = _lettered_prefix(first.sha256)
        assert get_document(session=session, ref=f" {prefix.upper()} ").id == three[0]
        assert get_document(session=session, ref=first.sha256).id == three[0]
        assert get_document(session=session, ref=str(three[1])).id == three[1]
        assert document_ids(
            session=session, refs=[prefix + first.sha256[len(prefix)], str(three[2])]
        ) == [
            three[0],
            three[2],
        ]
        with pytest.raises(NotFoundError, match="^no document with id 99$"):
            get_document(session=session, ref=99)
        with pytest.raises(NotFoundError, match="^no document with id 9999999999999999999$"):
            get_document(session=session, ref="9" * 19)  # beyond any database's ids
        with pytest.raises(BadInputError) as refused:
            get_document(session=session, ref="abc")
        assert str(refused.value) == (
            "'abc' is neither a document id (digits) nor a sha256 prefix (6 to 64 hex digits)"
        )
        unknown = next(p for p in ("abcdef", "fedcba") if not first.sha256.startswith(p))
        with pytest.raises(NotFoundError, match=f"^no document with sha256 starting '{unknown}'$"):
            get_document(session=session, ref=unknown)
        for document_id, digit in ((three[1], "1"), (three[2], "2")):
            shared = update(DocumentRecord).where(DocumentRecord.id == document_id)
            session.execute(shared.values(sha256="ab12cd" + digit * 58))
        with pytest.raises(NotFoundError, match="^2 documents with sha256 starting 'ab12cd'$"):
            get_document(session=session, ref="ab12cd")


def test_deletion_revokes_active_jobs_and_removes_files(
    settings: Settings, three: list[int], tmp_path: Path
) -> None:
    sessions = open_database(settings)
    queued = submit_file(
        sessions=sessions,
        settings=settings,
        path=badfiles.make_multipage_pdf(tmp_path, 2),
        payload=IngestPayload(),
    )
    kept = submit_file(
        sessions=sessions,
        settings=settings,
        path=badfiles.make_born_digital_pdf(tmp_path / "kept"),
        payload=IngestPayload(),
    )
    assert queued.document_id is not None
    with sessions() as session:
        session.get_one(JobRecord, queued.job_id).task_id = "task-1"
        session.get_one(JobRecord, kept.job_id).task_id = "task-2"  # another document's
        session.commit()
        sha256 = get_document(session=session, ref=queued.document_id).sha256
        gone = get_document(session=session, ref=three[0]).sha256
    original = storage.original_path(settings.data_dir, sha256)
    assert original.exists()
    storage.original_path(settings.data_dir, gone).unlink()  # already gone: still deleted
    with sessions() as session:
        deletion = delete_documents(
            session=session, settings=settings, document_ids=[queued.document_id, three[0]]
        )
    assert [d.id for d in deletion.documents] == [queued.document_id, three[0]]
    assert deletion.revoke == ["task-1"]
    assert not original.exists()
    assert _names(settings) == ["axb.pdf", "encrypted.pdf", "born_digital.pdf"]
    with sessions() as session:
        assert session.get_one(JobRecord, kept.job_id).status == JobStatus.QUEUED
    with sessions() as session, pytest.raises(NotFoundError, match="^no document with id 98, 99$"):
        delete_documents(session=session, settings=settings, document_ids=[98, three[1], 99])
    with (
        sessions() as session,
        pytest.raises(NotFoundError, match=f"^no document with id {three[0]}$"),
    ):
        delete_documents(session=session, settings=settings, document_ids=[three[0], three[1]])
    assert _names(settings) == ["axb.pdf", "encrypted.pdf", "born_digital.pdf"]  # none on an error
