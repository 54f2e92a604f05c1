"""`docfuse eval` on small subsets of the real labelled folders, JSON line included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from pipeline.engines.extractive import ExtractiveEngine
from tests.conftest import ICDAR_DIR, SHARED_DATA, SROIE_DIR

FACTUR_X = SHARED_DATA / "invoices-dev" / "embedded" / "EN16931_Einfach.pdf"


def _last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


@pytest.mark.slow
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


def test_eval_sroie_scores_a_value_only_when_it_is_the_expected_one(
    runner: CliRunner, tmp_path: Path
) -> None:
    """One receipt whose gold total was changed to one it does not print: the total read
    off it is counted wrong, its date still right."""
    folder = tmp_path / "sroie"
    for part, suffix in (("images", "jpg"), ("boxes", "csv")):
        (folder / part).mkdir(parents=True)
        shutil.copy(SROIE_DIR / part / f"000.{suffix}", folder / part)
    keys = json.loads((SROIE_DIR / "keys" / "000.json").read_text())
    (folder / "keys").mkdir()
    (folder / "keys" / "000.json").write_text(json.dumps({**keys, "total": "90.00"}))
    result = runner.invoke(cli, ["eval", str(folder), "--format", "sroie", "--json"])
    assert result.exit_code == 0, result.output
    fields = _last_json(result.stdout)["fields"]
    assert (fields["date"]["accuracy"], fields["total"]["accuracy"]) == (1.0, 0.0)


@pytest.mark.slow
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


def _qa_folder(folder: Path) -> Path:
    """The sample invoice and receipt with questions, one per line of qa.jsonl."""
    from app.samples import write_samples

    invoice, receipt = sorted(write_samples(folder / "docs"), key=lambda p: p.suffix)
    lines = [
        {"file": f"docs/{invoice.name}", "question": "What is the total?", "answers": ["89.28"]},
        {"file": f"docs/{invoice.name}", "question": "What is the invoice number?",
         "answers": ["inv-2026-0042", "INV 2026 0042"], "page": 0},
        {"file": f"docs/{invoice.name}", "question": "What is the total?", "answers": ["89.29"]},
        {"file": f"docs/{receipt.name}", "question": "Who signed it?", "answers": ["Ann Lee"]},
    ]  # fmt: skip
    (folder / "qa.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return folder


def test_eval_qa_scores_exact_match_and_anls(runner: CliRunner, tmp_path: Path) -> None:
    folder = _qa_folder(tmp_path / "qa")
    result = runner.invoke(cli, ["eval", str(folder), "--format", "qa", "--json"])
    assert result.exit_code == 0, result.output
    report = _last_json(result.stdout)
    assert report["documents"] == 2 and report["failures"] == []
    # which model answered: the rules and the ranker, by version (see test_training_export)
    assert report["models"] == [ExtractiveEngine().model_revision]
    fields = report["fields"]
    # Two exact answers of four (case does not count); "89.28" for "89.29" scores 0.8 ANLS.
    assert fields["exact_match"] == {"accuracy": 0.5, "grounding": None, "n": 4}
    assert fields["anls"] == {
        "accuracy": round((1 + 1 + 0.8 + 0) / 4, 4),
        "grounding": None,
        "n": 4,
    }


def test_eval_docfuse_scores_expected_fields_and_whole_documents(
    runner: CliRunner, tmp_path: Path
) -> None:
    """The generic gold format: docs/ and expected/<stem>.json; the schema is the built-in
    one naming most keys. The Factur-X file's XML gives its values exactly."""
    from app.samples import write_samples

    folder = tmp_path / "gold"
    (folder / "expected").mkdir(parents=True)
    invoice = next(p for p in write_samples(folder / "docs") if p.suffix == ".pdf")
    for other in (folder / "docs").iterdir():
        if other != invoice:
            other.unlink()
    shutil.copy(FACTUR_X, folder / "docs" / FACTUR_X.name)
    expected = {
        invoice.stem: {"invoice_number": "INV-2026-0042", "total": "89.29", "source": "x"},
        FACTUR_X.stem: {"invoice_number": "471102", "issue_date": "2018-03-05",
                        "vendor": "Lieferant GmbH", "customer": "Kunden AG Mitte",
                        "total": "529.87"},
    }  # fmt: skip
    for stem, values in expected.items():
        (folder / "expected" / f"{stem}.json").write_text(json.dumps(values))
    result = runner.invoke(cli, ["eval", str(folder), "--format", "docfuse", "--json"])
    assert result.exit_code == 0, result.output
    fields = _last_json(result.stdout)["fields"]
    assert fields["invoice_number"] == {"accuracy": 1.0, "grounding": None, "n": 2}
    assert fields["total"]["accuracy"] == 0.5  # 89.28 is printed, 89.29 expected
    assert fields["customer"]["n"] == 1 and "source" not in fields
    assert fields["all_fields"] == {"accuracy": 0.5, "grounding": None, "n": 2}
    calibration = _last_json(result.stdout)["calibration"]
    assert calibration["n"] == 7 and calibration["n_at_0_9"] >= 5  # the XML's five values
    assert 0 <= calibration["ece"] <= 1 and "calibration: expected calibration" in result.output
