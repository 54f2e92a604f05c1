"""`docfuse ui`: the web UI (Streamlit), run from its script by path: the app layer never
imports `ui/`."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import command, errors, load_settings
from app.db import open_database

UI_SCRIPT = Path(__file__).resolve().parents[2] / "ui" / "streamlit_app.py"


@command()
def ui(
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8501,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Run the web UI on http://HOST:PORT (only this machine unless --host says otherwise).
    With DOCFUSE_UI_PASSWORD set, it asks for that password first. Replaces this process."""
    settings = load_settings()
    open_database(settings)  # the schema and the data dir, before the server starts
    if host not in ("127.0.0.1", "localhost", "::1") and settings.ui_password is None:
        errors.print(f"warning: listening on {host} with no DOCFUSE_UI_PASSWORD set")
    megabytes = math.ceil(settings.max_upload_bytes / 2**20)
    argv = [
        sys.executable, "-m", "streamlit", "run", str(UI_SCRIPT),
        "--server.port", str(port), "--server.address", host, "--server.headless", "true",
        "--server.maxUploadSize", str(megabytes), "--server.enableXsrfProtection", "true",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    sys.stdout.flush()
    os.execv(sys.executable, argv)
