"""The documents table's rows and the JSON export of a selection."""

from __future__ import annotations

import json
from collections.abc import Sequence

from app.schemas import DocumentInfo
from app.services.export import export_documents
from ui.context import context


def table_rows(documents: Sequence[DocumentInfo]) -> list[dict[str, object]]:
    return [
        {
            "id": document.id,
            "name": document.filename,
            "pages": document.page_count,
            "type": document.file_type or "",
            "status": document.status.value,
            "added": document.created_at,
            "open": f"document?id={document.id}",
        }
        for document in documents
    ]


def export_json(document_ids: Sequence[int]) -> str:
    """The export of these documents, as `docfuse export -o FILE.json` writes it."""
    with context().sessions() as session:
        exported = export_documents(session=session, document_ids=list(document_ids))
    payload = [document.model_dump(mode="json", by_alias=True) for document in exported]
    return json.dumps(payload, indent=2, ensure_ascii=False)
