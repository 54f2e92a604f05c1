"""`docfuse eval` on small subsets of the real labelled folders, JSON line included."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from app.cli import cli
from tests.conftest import ICDAR_DIR, SROIE_DIR


def _last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_eval_sroie_subset(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli, ["eval", str(SROIE_DIR), "--format", "sroie", "--limit", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = _last_json(result.stdout)
    assert report["documents"] == 3 and report["engine"] == "extractive"
    assert set(report["fields"]) == {"company", "date", "address", "total"}
    for name in ("date", "total"):
        assert report["fields"][name]["accuracy"] >= 2 / 3
        assert report["fields"][name]["grounding"] == 1.0
    assert 0 < report["ocr"]["cer"] < 0.1 and report["ocr"]["word_recall"] > 0.8
    assert report["pages_per_s"] > 0
    assert not (tmp_path / "data").exists()  # evaluation never touches the user's data


def test_eval_icdar2013_subset(runner: CliRunner) -> None:
    result = runner.invoke(
        cli, ["eval", str(ICDAR_DIR), "--format", "icdar2013", "--limit", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = _last_json(result.stdout)
    cells = report["fields"]["cell"]
    assert cells["n"] > 50 and cells["accuracy"] > 0.95 and cells["grounding"] > 0.9
    assert report["ocr"]["cer"] < 0.02


def test_eval_refuses_a_folder_of_the_wrong_shape(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["eval", str(tmp_path), "--format", "sroie"])
    assert result.exit_code != 0
    assert "no images/*.jpg" in str(result.exception) or "no images/*.jpg" in result.output
