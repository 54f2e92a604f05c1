"""Settings that point at something unusable end in one line naming the setting, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DOCFUSE_DATA_DIR", "{file}", "DOCFUSE_DATA_DIR={file} is a file, not a folder"),
        ("DOCFUSE_DATA_DIR", "{file}/data", "DOCFUSE_DATA_DIR={file}/data cannot be used"),
        ("DOCFUSE_DATABASE_URL", "nonsense", "DOCFUSE_DATABASE_URL='nonsense' is not a database"),
        ("DOCFUSE_DATABASE_URL", "mysql://u@h/d", "docfuse stores its data in SQLite or Postgre"),
        (
            "DOCFUSE_DATABASE_URL",
            "postgresql+psycopg://bob:hunter2@127.0.0.1:1/db",
            "DOCFUSE_DATABASE_URL=postgresql+psycopg://bob:***@127.0.0.1:1/db: cannot open",
        ),
        ("DOCFUSE_DATABASE_URL", "sqlite:////no/such/dir/x.db", "cannot open the database"),
        ("DOCFUSE_DPI", "12", "invalid DOCFUSE_* setting: DOCFUSE_DPI: Input should be"),
        ("DOCFUSE_STALE_AFTER_S", "1", "DOCFUSE_*: Value error, stale_after_s (1.0) must"),
    ],
)
def test_unusable_settings_end_in_one_line(
    runner: CliRunner,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    expected: str,
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    monkeypatch.setenv(variable, value.format(file=a_file))
    get_settings.cache_clear()
    result = runner.invoke(cli, ["documents"])
    assert result.exit_code == 2, result.output
    flat = " ".join(result.output.split())
    assert expected.format(file=a_file) in flat
    assert "Traceback" not in result.output and "hunter2" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert isinstance(result.exception, SystemExit)
