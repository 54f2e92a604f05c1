"""Fixtures for driving the CLI as a user would, with a private data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.config import get_settings


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DOCFUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")  # wide tables: values stay on one line
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
