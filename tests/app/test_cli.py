"""The CLI as a user runs it: ingest a mixed folder, list, export, schema."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import get_settings
from app.db.migrate import head_revision
from pipeline.fields.schemas import load_schema
from tests import badfiles
from tests.conftest import ICDAR_DIR


def test_ingest_list_export_schema(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    badfiles.make_born_digital_pdf(folder)
    badfiles.make_corrupt_pdf(folder)
    (folder / "readme.txt").write_text("skipped: not a document")

    result = runner.invoke(
        cli, ["ingest", str(folder), str(ICDAR_DIR / "eu-005.pdf"), "--dpi", "72"]
    )
    assert result.exit_code == 2, result.output  # 2: some file failed, the rest went in
    assert "2 new, 0 already known, 1 failed" in result.output
    assert "corrupt" in result.output.lower()

    again = runner.invoke(cli, ["ingest", str(ICDAR_DIR / "eu-005.pdf")])
    assert again.exit_code == 0 and "0 new, 1 already known, 0 failed" in again.output

    listing = runner.invoke(cli, ["documents"])
    assert listing.exit_code == 0
    assert listing.output.count("ready") == 2 and listing.output.count("failed") == 1

    out = tmp_path / "export.json"
    exported = runner.invoke(cli, ["export", "--all", "-o", str(out), "--no-words"])
    assert exported.exit_code == 0, exported.output
    documents = json.loads(out.read_text())
    assert len(documents) == 3
    assert {d["pages"][0]["dpi"] for d in documents if d["pages"]} == {72}

    one = runner.invoke(cli, ["export", "1", "-o", str(tmp_path / "per-doc")])
    assert one.exit_code == 0 and len(list((tmp_path / "per-doc").glob("*.json"))) == 1

    schema = runner.invoke(cli, ["schema"])
    for document in documents:
        jsonschema.validate(document, json.loads(schema.output))


def test_documents_by_status_and_commands_by_sha256_prefix(
    runner: CliRunner, tmp_path: Path
) -> None:
    """`documents --status` lists only documents in that state, and a document is named by
    a prefix of its sha256 (as `documents` prints it) wherever an id is taken."""
    pdf = ICDAR_DIR / "eu-005.pdf"
    runner.invoke(cli, ["ingest", str(pdf), str(badfiles.make_corrupt_pdf(tmp_path))])
    failed = runner.invoke(cli, ["documents", "--status", "failed"]).output
    assert "corrupt.pdf" in failed and "eu-005.pdf" not in failed
    ready = runner.invoke(cli, ["documents", "--status", "ready"]).output
    assert "eu-005.pdf" in ready and "corrupt.pdf" not in ready
    prefix = hashlib.sha256(pdf.read_bytes()).hexdigest()[:12]
    out = tmp_path / "by-prefix.json"
    exported = runner.invoke(cli, ["export", prefix, "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert [d["document"]["filename"] for d in json.loads(out.read_text())] == ["eu-005.pdf"]


def test_export_of_unknown_document_says_so(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["export", "42"])
    assert result.exit_code == 3 and "no document with id 42" in result.output
    for bad in ("²", "10^23", "____________", "%%%%%%"):
        refused = runner.invoke(cli, ["export", bad])
        assert refused.exit_code == 2 and "neither a document id" in refused.output, bad
        assert refused.exception is None or isinstance(refused.exception, SystemExit)
    for bad in ("10^30", str(10**30), "0"):
        assert runner.invoke(cli, ["cancel", bad]).exit_code == 2, bad


def test_extract_and_ask_print_grounded_results(runner: CliRunner, tmp_path: Path) -> None:
    from app.samples import write_samples

    invoice = next(p for p in write_samples(tmp_path) if p.suffix == ".pdf")
    assert runner.invoke(cli, ["ingest", str(invoice)]).exit_code == 0
    extracted = runner.invoke(cli, ["extract", "1", "--schema", "invoice"])
    assert extracted.exit_code == 0, extracted.output
    assert "engine: extractive" in extracted.output and "INV-2026-0042" in extracted.output
    answered = runner.invoke(cli, ["ask", "1", "What is the total?"])
    assert answered.exit_code == 0
    assert "89.28  (page 0, box [0." in answered.output

    bad = tmp_path / "schema.yaml"
    bad.write_text("name: x\nfields: []\n")
    refused = runner.invoke(cli, ["extract", "1", "--schema", str(bad)])
    assert refused.exit_code == 2 and "schema.yaml: invalid field schema" in refused.output
    missing_page = runner.invoke(cli, ["ask", "1", "Total?", "--page", "5"])
    assert missing_page.exit_code == 2 and "has no page 5" in missing_page.output
    nothing = runner.invoke(cli, ["ask", "1", "What is the weather?"])
    assert nothing.exit_code == 3 and "no answer found" in nothing.output


def test_extract_and_ask_all_run_over_every_ready_document(
    runner: CliRunner, tmp_path: Path
) -> None:
    from app.samples import write_samples

    samples = write_samples(tmp_path)
    for path in samples:
        assert runner.invoke(cli, ["ingest", str(path)]).exit_code == 0
    ready = len(samples)
    extracted = runner.invoke(cli, ["extract", "--all", "--schema", "invoice"])
    assert extracted.exit_code == 0, extracted.output
    assert [n for n in range(1, 10) if f"document {n}:" in extracted.output] == list(
        range(1, ready + 1)
    )
    answered = runner.invoke(cli, ["ask", "--all", "What is the total?"])
    assert answered.exit_code == 0 and "89.28  (page 0, box [0." in answered.output
    assert answered.output.count("What is the total? ->") == ready
    for wrong in (["ask", "What is the total?"], ["ask", "--all", "1", "Total?"], ["extract"]):
        refused = runner.invoke(cli, wrong)
        assert refused.exit_code == 2 and "give DOC_ID" in refused.output, wrong


def test_unknown_engines_are_refused_with_the_choices(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = runner.invoke(cli, ["ask", "1", "Total?", "--engine", "bogus"])
    assert refused.exit_code == 2 and "'bogus' is not one of" in refused.output
    monkeypatch.setenv("DOCFUSE_ENGINE", "nope")
    get_settings.cache_clear()
    bad_env = runner.invoke(cli, ["documents"])
    assert bad_env.exit_code == 2 and "invalid DOCFUSE_* setting" in bad_env.output


def test_watch_refuses_what_is_not_a_folder(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["watch", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "is not a folder" in result.output


def test_demo_runs_the_main_job_with_nothing_else_started(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DOCFUSE_BROKER_URL", raising=False)
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert "2 new, 0 already known, 0 failed" in result.output
    assert "What is the total? -> 89.28" in result.output
    assert "What is the total? -> 27.03" in result.output
    data = tmp_path / "data"
    assert sorted(p.name for p in (data / "samples").iterdir()) == [
        "invoice-acme.pdf",
        "receipt-corner-cafe.png",
    ]
    exported = json.loads((data / "export.json").read_text())
    assert [d["document"]["status"] for d in exported] == ["ready", "ready"]
    assert all(d["answers"][0]["grounded"] for d in exported)
    # The invoice read from its text layer, the receipt by OCR; each schema's fields
    # exported with their boxes.
    for name, source, schema, total in [
        ("invoice-acme.pdf", "pdf", "invoice", "89.28"),
        ("receipt-corner-cafe.png", "ocr", "receipt", "27.03"),
    ]:
        [document] = [d for d in exported if d["document"]["filename"] == name]
        assert [page["text_source"] for page in document["pages"]] == [source]
        fields = {f["name"]: f for f in document["fields"]}
        assert {f["schema"] for f in fields.values()} == {schema}
        assert set(fields) == {field.name for field in load_schema(schema).fields}
        assert fields["total"]["value"] == total and fields["total"]["boxes"]


def test_jobs_cancel_delete_and_migrate(runner: CliRunner, tmp_path: Path) -> None:
    pdf = str(ICDAR_DIR / "eu-003.pdf")
    assert runner.invoke(cli, ["ingest", pdf, "--ask", "What is the total?"]).exit_code in (0, 3)
    listing = runner.invoke(cli, ["jobs"])
    assert listing.exit_code == 0
    assert listing.output.count(" done ") == 2 and "analyze" in listing.output
    refused = runner.invoke(cli, ["cancel", "1"])
    assert refused.exit_code == 2 and "job 1 is done" in refused.output
    assert runner.invoke(cli, ["cancel", "99"]).exit_code == 3
    data = tmp_path / "data"
    assert list((data / "originals").rglob("*"))
    deleted = runner.invoke(cli, ["delete", "1"])
    assert deleted.exit_code == 0 and "deleted document 1 (eu-003.pdf)" in deleted.output
    assert not [p for p in (data / "originals").rglob("*") if p.is_file()]
    assert "eu-003" not in runner.invoke(cli, ["documents"]).output
    assert runner.invoke(cli, ["jobs"]).output.count(" done ") == 0
    migrated = runner.invoke(cli, ["migrate"])
    assert migrated.exit_code == 0
    assert f"database at revision {head_revision()}" in migrated.output
