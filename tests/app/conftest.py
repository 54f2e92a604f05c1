"""Fixtures for driving the CLI as a user would, with a private data dir, and for Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app import interrupts
from app.config import get_settings


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DOCFUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")  # wide tables: values stay on one line
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.fixture
def ctrl_c_pressed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C was pressed in this process: the CLI's SIGINT handler ran (and raised)."""
    monkeypatch.setattr(interrupts, "_ctrl_c", threading.Event())
    with pytest.raises(KeyboardInterrupt):
        interrupts.on_sigint(signal.SIGINT, None)
