"""The docfuse web UI. Run with `docfuse ui` (which runs `streamlit run ui/streamlit_app.py`).

Not named app.py: Streamlit puts this folder first on the import path, where a module
called `app` would hide the `app` package.
"""

from __future__ import annotations

import streamlit as st

from ui.auth import signed_in
from ui.status import engine_banner

st.set_page_config(page_title="docfuse", page_icon=":material/description:", layout="wide")

PAGES = [
    st.Page("app_pages/documents.py", title="Documents", icon=":material/folder:", default=True),
    st.Page("app_pages/upload.py", title="Upload", icon=":material/upload:"),
    st.Page(
        "app_pages/document.py", title="Document", icon=":material/article:", url_path="document"
    ),
]

# Navigation is declared before the gate so that a link to a page (say /document?id=...)
# still leads there once the password is given; until then the menu stays hidden.
allowed = signed_in()
page = st.navigation(PAGES, position="sidebar" if allowed else "hidden")
if allowed:
    engine_banner()
    page.run()
