"""Text from users and files, shown as written: Streamlit renders Markdown in most places."""

from __future__ import annotations

import re

MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def plain(text: object) -> str:
    """`text` with every Markdown character escaped."""
    return MARKDOWN.sub(r"\\\1", str(text))
