"""Reads for the pages, cached briefly (st.cache_data) and cleared after every write, so
reruns are cheap and what a user just did shows at once."""

from __future__ import annotations

import base64
import io

import streamlit as st
from PIL import Image

from app.db.models import DocumentRecord
from app.schemas import DocumentInfo, ExportDocument
from app.services.documents import list_documents
from app.services.export import export_documents
from app.services.pages import page_image_file
from ui.context import context

VIEW_WIDTH = 1400  # pixels: a page is sent to the browser no wider than this


@st.cache_data(ttl=2, max_entries=64, show_spinner=False)
def documents(name: str, text: str, status: str | None) -> list[DocumentInfo]:
    with context().sessions() as session:
        return list_documents(session=session, status=status, name=name, text=text)


@st.cache_data(ttl=2, max_entries=16, show_spinner=False)
def exported(document_id: int) -> ExportDocument | None:
    """Everything about one document: pages with words, answers, fields, corrections."""
    with context().sessions() as session:
        found = export_documents(session=session, document_ids=[document_id])
    return found[0] if found else None


@st.cache_data(ttl=600, max_entries=32, show_spinner=False)
def page_picture(document_id: int, sha256: str, index: int) -> str:
    """The page as a JPEG data URL, rendered on demand and cached (`sha256` keys the cache
    to the document's bytes)."""
    ctx = context()
    with ctx.sessions() as session:
        path = page_image_file(ctx.settings, session.get_one(DocumentRecord, document_id), index)
    with Image.open(path) as image:
        picture = image.convert("RGB")
        picture.thumbnail((VIEW_WIDTH, VIEW_WIDTH * 4))
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def forget() -> None:
    """After a write: the next read goes to the database."""
    documents.clear()
    exported.clear()
