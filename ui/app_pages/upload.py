"""Upload: several PDFs or images at once, each followed live until it is done."""

from __future__ import annotations

import streamlit as st

from ui.analysis_form import analysis_request_inputs
from ui.context import context
from ui.text import plain
from ui.uploads import submit_uploads, upload_state

UPLOADS = "uploads"  # this browser session's submissions
ROUND = "upload-round"

ctx = context()
st.title("Upload documents")
st.caption(
    f"PDF, PNG, JPEG or TIFF, up to {ctx.settings.max_upload_bytes / 2**20:.1f} MB each; the "
    "type is read from the file itself."
)
# A new key empties the uploader once its files are handed over.
round_ = st.session_state.setdefault(ROUND, 0)
files = st.file_uploader(
    "Documents",
    accept_multiple_files=True,
    key=f"upload-files-{round_}",
    label_visibility="collapsed",
)
then = analysis_request_inputs("upload")
if st.button("Process", key="upload-process", type="primary", disabled=not files):
    batch = [(file.name, file.getvalue()) for file in files or []]
    st.session_state[UPLOADS] = submit_uploads(ctx, batch, then) + st.session_state.get(UPLOADS, [])
    st.session_state[ROUND] = round_ + 1
    st.rerun()


@st.fragment(run_every=1.0)
def progress() -> None:
    """Each upload of this session with where it stands, refreshed every second."""
    for index, submission in enumerate(st.session_state.get(UPLOADS, [])):
        state = upload_state(ctx, submission)
        with st.container(border=True, key=f"upload-{index}"):
            columns = st.columns([3, 4, 1])
            columns[0].markdown(f"**{plain(state.name)}**")
            if state.failed:
                columns[1].error(plain(state.label))
            elif state.progress is not None:
                columns[1].progress(state.progress, text=plain(state.label))
            else:
                columns[1].markdown(plain(state.label))
            if state.document_id is not None and not state.failed:
                columns[2].page_link(
                    "app_pages/document.py",
                    label="Open",
                    query_params={"id": str(state.document_id)},
                )


progress()
