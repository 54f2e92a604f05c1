"""One document: its pages with boxes, questions, fields to review and correct, managing it."""

from __future__ import annotations

import streamlit as st

from ui import reads
from ui.context import context
from ui.document_view import ask_panel, fields_panel, manage_panel, viewer_panel
from ui.text import plain

ctx = context()
given = st.query_params.get("id", "")
if not given.isdigit():
    st.info("Choose a document in the list.")
    st.page_link("app_pages/documents.py", label="Documents", icon=":material/folder:")
    st.stop()
document = reads.exported(int(given))
if document is None:
    st.error(f"There is no document {plain(given)}.")
    st.stop()

doc = document.document
st.title(plain(doc.filename))
if doc.status != "ready":
    st.warning(plain(f"This document is {doc.status}" + (f": {doc.error}" if doc.error else ".")))
    manage_panel(ctx, document)
    st.stop()

left, right = st.columns([3, 2])
with left:
    viewer_panel(document)
with right:
    ask, fields, manage = st.tabs(["Ask", "Fields", "Document"])
    page_index = int(st.session_state.get(f"page-{doc.id}", 1)) - 1
    with ask:
        ask_panel(ctx, document, page_index)
    with fields:
        fields_panel(ctx, document)
    with manage:
        manage_panel(ctx, document)
