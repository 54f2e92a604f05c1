"""Documents: a table to search and filter, links to open each, and downloads and deletion
of a selection."""

from __future__ import annotations

import streamlit as st

from app.db.models import DocumentStatus
from app.services.documents import delete_documents
from app.services.export import field_schema_names, fields_csv
from pipeline.fields.schemas import builtin_schema_names
from ui import reads
from ui.context import context
from ui.documents_table import export_json, table_rows

ANY = "any"

ctx = context()
st.title("Documents")
filters = st.columns(3)
name = filters[0].text_input("Name contains", key="filter-name")
text = filters[1].text_input("Text on the pages", key="filter-text")
status = filters[2].selectbox("Status", [ANY, *DocumentStatus], key="filter-status")
documents = reads.documents(name.strip(), text.strip(), None if status == ANY else status)
if not documents:
    st.info("No documents match." if name or text or status != ANY else "No documents yet.")
    st.page_link("app_pages/upload.py", label="Upload documents", icon=":material/upload:")
    st.stop()

table = st.dataframe(
    table_rows(documents),
    key="documents-table",
    hide_index=True,
    on_select="rerun",
    selection_mode="multi-row",
    column_config={
        "open": st.column_config.LinkColumn("open", display_text="open"),
        "added": st.column_config.DatetimeColumn("added", format="YYYY-MM-DD HH:mm"),
    },
)
chosen = [documents[row].id for row in table.selection.rows] or [d.id for d in documents]
st.caption(
    f"{len(table.selection.rows)} selected"
    if table.selection.rows
    else f"No selection: the actions below apply to all {len(documents)} listed"
)
actions = st.columns(3)
actions[0].download_button(
    "Download JSON", export_json(chosen), file_name="docfuse-export.json",
    mime="application/json", key="download-selection",
)  # fmt: skip
with ctx.sessions() as session:
    found = field_schema_names(session=session, document_ids=chosen)
    names = list(dict.fromkeys([*found, *builtin_schema_names()]))  # a user's own too
    schema = actions[1].selectbox("Fields of", names, key="csv-schema")
    csv_text = fields_csv(session=session, document_ids=chosen, schema_name=schema)
actions[1].download_button(
    f"Download {schema} CSV", csv_text, file_name=f"docfuse-{schema}.csv", mime="text/csv",
    key="download-csv",
)  # fmt: skip
sure = actions[2].checkbox(f"Delete {len(chosen)} document(s)", key="delete-sure")
if actions[2].button("Delete", key="delete-selection", disabled=not sure):
    with ctx.sessions() as session:
        deletion = delete_documents(session=session, settings=ctx.settings, document_ids=chosen)
    ctx.dispatcher.revoke(deletion.revoke)
    reads.forget()
    st.rerun()
