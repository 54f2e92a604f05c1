"""The docfuse web UI. Run with `docfuse ui` (which runs `streamlit run ui/streamlit_app.py`).

Not named app.py: Streamlit puts this folder first on the import path, where a module
called `app` would hide the `app` package.
"""

from __future__ import annotations

import streamlit as st

from ui.auth import signed_in
from ui.status import engine_banner

st.set_page_config(page_title="docfuse", page_icon=":material/description:", layout="wide")

if signed_in():
    pages = st.navigation(
        [
            st.Page(
                "app_pages/documents.py", title="Documents", icon=":material/folder:", default=True
            ),
            st.Page("app_pages/upload.py", title="Upload", icon=":material/upload:"),
            st.Page(
                "app_pages/document.py",
                title="Document",
                icon=":material/article:",
                url_path="document",
            ),
        ]  # fmt: skip
    )
    engine_banner()
    pages.run()
