"""`docfuse train-extractor`: the ranker learned from labelled folders and from a user's
corrections, then used by the next extraction and named in its results."""

from __future__ import annotations

import json
from pathlib import Path

import pymupdf
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.services.extractor_training import folder_documents
from pipeline.engines.ranker import load_ranker
from pipeline.errors import TooLargeError
from tests.conftest import SHARED_DATA

INVOICES = SHARED_DATA / "invoices-dev"
SCHEMA = """name: delivery
fields:
  - name: delivery_date
    type: date
    question: When were the goods delivered?
"""


def _summary(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


@pytest.mark.slow
def test_held_out_families_show_what_the_ranker_adds(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "ranker.json"
    args = ["--no-base", "--no-corrections", "--data", f"{INVOICES}:docfuse", "--out", str(out)]
    trained = runner.invoke(cli, ["train-extractor", *args, "--cross-validate"])
    assert trained.exit_code == 0, trained.output
    summary = _summary(trained.output)
    assert summary["version"] == load_ranker(out).version
    number = summary["cross_validation"]["fields"]["invoice_number"]
    assert number["n"] == 29 and number["ranker"] >= 0.9 > number["rules"]
    calibration = summary["cross_validation"]["calibration"]
    assert calibration["n"] > 200 and calibration["ece"] < 0.2
    assert "held-out families" in trained.output and "calibration:" in trained.output


def _delivery_note(folder: Path, number: int) -> Path:
    """A layout the shipped engine reads wrong: the print date first, the delivery date
    mid-page with no key before it."""
    document = pymupdf.open()
    page = document.new_page(width=595, height=842)
    page.insert_text((400, 60), f"Printed 2{number}.05.2024", fontsize=11)
    page.insert_text((60, 420), f"Goods left our warehouse 1{number}.04.2024", fontsize=11)
    page.insert_text((60, 440), f"Parcel {number}{number}7 of ACME Logistics", fontsize=11)
    path = folder / f"note-{number}.pdf"
    document.save(path)
    return path


def _labelled_notes(folder: Path, golds: dict[int, dict[str, str]]) -> Path:
    """A `docfuse` gold folder of delivery notes: each note's expected values by its number."""
    (folder / "docs").mkdir(parents=True)
    (folder / "expected").mkdir()
    (folder / "schema.yaml").write_text(SCHEMA)
    for number, expected in golds.items():
        path = _delivery_note(folder / "docs", number)
        (folder / "expected" / f"{path.stem}.json").write_text(json.dumps(expected))
    return folder


def test_a_labelled_folder_trains_and_is_scored_on_held_out_families(
    runner: CliRunner, tmp_path: Path
) -> None:
    """Six notes of three layout families (named by each expected file's `source`): the
    rules read the print date on every one, the ranker learnt from the other families reads
    the delivery date on every one. Four golds are the delivery date, the fifth's its print
    date and the sixth's printed nowhere: rules 1 of 6, ranker 4 of 6, 5 of 6 golds among
    the candidates. With one family there is nothing to hold out."""
    dates = {5: "2024-05-25", 6: "2024-04-30"}
    golds = {
        number: {
            "delivery_date": dates.get(number, f"2024-04-1{number}"),
            "source": f"f{number % 3}/note-{number}.pdf",
        }
        for number in range(1, 7)
    }
    folder = _labelled_notes(tmp_path / "notes", golds)
    args = ["--no-base", "--no-corrections", "--data", f"{folder}:docfuse", "--cross-validate"]
    trained = runner.invoke(cli, ["train-extractor", *args, "--out", str(tmp_path / "r.json")])
    assert trained.exit_code == 0, trained.output
    report = _summary(trained.output)["cross_validation"]
    assert report["fields"] == {
        "delivery_date": {"n": 6, "rules": 0.1667, "ranker": 0.6667, "reachable": 0.8333}
    }
    assert report["all_fields"] == {"n": 6, "rules": 0.1667, "ranker": 0.6667}
    assert report["calibration"]["n"] == 6
    for expected in (folder / "expected").iterdir():
        gold = json.loads(expected.read_text())
        expected.write_text(json.dumps(gold | {"source": f"f0/{expected.stem}.pdf"}))
    alone = runner.invoke(cli, ["train-extractor", *args, "--out", str(tmp_path / "r.json")])
    report = _summary(alone.output)["cross_validation"]
    assert (report["fields"], report["all_fields"], report["calibration"]["n"]) == ({}, None, 0)


def test_a_folder_is_read_with_the_settings_pages_and_shows_progress(tmp_path: Path) -> None:
    """Pages are read at the configured DPI and under its pixel cap, and each document read
    is reported as it is done (1 of 2, 2 of 2)."""
    golds = {number: {"delivery_date": f"2024-04-1{number}"} for number in (1, 2)}
    folder = _labelled_notes(tmp_path / "notes", golds)
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", dpi=72, max_page_pixels=10**6)
    seen: list[tuple[int, int]] = []
    documents = list(folder_documents(folder, "docfuse", settings, lambda *at: seen.append(at)))
    assert seen == [(1, 2), (2, 2)]
    assert [d.name for d in documents] == ["notes/note-1.pdf", "notes/note-2.pdf"]
    assert [(p.dpi, p.width, p.height) for d in documents for p in d.pages] == [(72, 595, 842)] * 2
    at_150_dpi = settings.model_copy(update={"dpi": 150})  # 1240 x 1754 pixels a page
    with pytest.raises(TooLargeError, match="at 150 DPI, over the cap of 1,000,000 pixels"):
        list(folder_documents(folder, "docfuse", at_150_dpi))
    with pytest.raises(ValueError, match=r"unknown format 'csv' for training; use one of \['"):
        list(folder_documents(folder, "csv", settings))


def test_corrections_teach_the_next_extraction(runner: CliRunner, tmp_path: Path) -> None:
    schema = tmp_path / "delivery.yaml"
    schema.write_text(SCHEMA)
    for number in range(1, 6):
        path = _delivery_note(tmp_path, number)
        assert runner.invoke(cli, ["ingest", str(path)]).exit_code == 0
    before = runner.invoke(cli, ["extract", "5", "--schema", str(schema)])
    assert "25.05.2024" in before.output  # the print date: wrong
    for number in range(1, 5):
        extracted = runner.invoke(cli, ["extract", str(number), "--schema", str(schema)])
        assert extracted.exit_code == 0, extracted.output
        value = f"delivery_date=2024-04-1{number}"
        corrected = runner.invoke(cli, ["correct", str(number), value, "--schema", str(schema)])
        assert corrected.exit_code == 0, corrected.output

    trained = runner.invoke(cli, ["train-extractor", "--no-base"])
    assert trained.exit_code == 0, trained.output
    summary = _summary(trained.output)
    assert summary["corrected_documents"] == 4 and "delivery_date" in summary["fields"]

    after = runner.invoke(cli, ["extract", "5", "--schema", str(schema)])
    assert "15.04.2024" in after.output and "25.05.2024" not in after.output
    listed = runner.invoke(cli, ["documents"])
    assert f"ranker.{summary['version']}" in listed.output.replace("\n", "")


def test_nothing_to_learn_from_is_a_clear_refusal(runner: CliRunner, tmp_path: Path) -> None:
    empty = runner.invoke(cli, ["train-extractor", "--no-base"])
    assert empty.exit_code == 2 and "too few labelled values" in empty.output
    wrong = runner.invoke(cli, ["train-extractor", "--data", f"{tmp_path}/missing:docfuse"])
    assert wrong.exit_code == 2 and "expected an existing DIR:FORMAT" in wrong.output
