"""`docfuse export --training`: corrections as LLaVA conversations, split by document."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings, get_settings
from app.db import open_database
from app.db.models import DocumentRecord
from app.samples import write_samples
from app.services.corrections import correct_answer
from app.services.training_export import (
    TrainingExample,
    _validation_documents,
    training_examples,
)
from pipeline.fields.schemas import load_schema, parse_schema
from tests import badfiles
from tests.app.helpers import answer_record, correct_invoice_field, field_record, ingest

QUESTION = "What is the total?"


@pytest.fixture
def corrected(runner: CliRunner, tmp_path: Path) -> CliRunner:
    """The sample invoice (document 1) and receipt (2), each with corrections."""
    invoice, receipt = sorted(write_samples(tmp_path), key=lambda p: p.suffix != ".pdf")
    for path, schema in ((invoice, "invoice"), (receipt, "receipt")):
        done = runner.invoke(cli, ["ingest", str(path), "--schema", schema, "--ask", QUESTION])
        assert done.exit_code == 0, done.output
    commands = [
        ["correct", "1", "--schema", "invoice", "vendor=ACME Office Supplies"],
        ["confirm", "1", "total", "--schema", "invoice"],
        ["correct", "2", "--schema", "receipt", "company=Corner Cafe"],
        ["correct", "2", "27.03", "--question", QUESTION],
    ]
    for command in commands:
        assert runner.invoke(cli, command).exit_code == 0
    return runner


def _split(folder: Path) -> dict[str, list[dict]]:
    return {
        name: json.loads((folder / f"{name}.json").read_text()) for name in ("train", "validation")
    }


def test_corrections_become_llava_conversations_split_by_document(
    corrected: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "training"
    result = corrected.invoke(cli, ["export", "--training", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 train and 2 validation examples from 2 documents" in result.output
    split = _split(out)
    examples = split["train"] + split["validation"]
    pairs = {(e["conversations"][0]["value"], e["conversations"][1]["value"]) for e in examples}
    invoice = load_schema("invoice")
    assert pairs == {
        (f"<image>\n{invoice.field('vendor').spec().question}", "ACME Office Supplies"),
        (f"<image>\n{invoice.field('total').spec().question}", "89.28"),  # confirmed
        (f"<image>\n{load_schema('receipt').field('company').spec().question}", "Corner Cafe"),
        (f"<image>\n{QUESTION}", "27.03"),
    }
    for example in examples:
        assert [turn["from"] for turn in example["conversations"]] == ["human", "gpt"]
        with Image.open(out / example["image"]) as image:
            assert image.format == "PNG" and image.width > 100
    documents = {name: {e["id"].split("-")[0] for e in rows} for name, rows in split.items()}
    assert len(documents["train"]) == len(documents["validation"]) == 1
    assert not documents["train"] & documents["validation"]  # never a document in both


def test_schema_and_since_narrow_the_training_data(corrected: CliRunner, tmp_path: Path) -> None:
    only = corrected.invoke(
        cli, ["export", "--training", str(tmp_path / "r"), "--schema", "receipt"]
    )
    assert only.exit_code == 0, only.output
    split = _split(tmp_path / "r")
    answers = [e["conversations"][1]["value"] for rows in split.values() for e in rows]
    assert answers == ["Corner Cafe"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    none = corrected.invoke(cli, ["export", "--training", str(tmp_path / "n"), "--since", tomorrow])
    assert none.exit_code == 3
    assert "0 train and 0 validation examples from 0 documents" in none.output


def test_examples_are_numbered_by_document_and_keep_the_person_s_text(
    corrected: CliRunner, tmp_path: Path
) -> None:
    """Ids are the document's sha256 prefix and the example's number in correction order;
    the files keep non-ASCII text as written; the split is stable (a hash of each document)
    and a lone document trains; exporting again over the same folder replaces the files."""
    invoice, receipt = (
        hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        for name in ("invoice-acme.pdf", "receipt-corner-cafe.png")
    )
    fixed = corrected.invoke(cli, ["correct", "2", "--schema", "receipt", "company=Café Zoë"])
    assert fixed.exit_code == 0, fixed.output
    out = tmp_path / "training"
    for _ in range(2):
        assert corrected.invoke(cli, ["export", "--training", str(out)]).exit_code == 0
    split = _split(out)
    ids = {"invoice": [f"{invoice[:16]}-0", f"{invoice[:16]}-1"],
           "receipt": [f"{receipt[:16]}-2", f"{receipt[:16]}-3"]}  # fmt: skip
    # the document of the lower hash validates, whatever the version or machine exporting
    ranks = {name: hashlib.sha256(f"docfuse-split:{sha}".encode()).hexdigest()
             for name, sha in (("invoice", invoice), ("receipt", receipt))}  # fmt: skip
    validating = min(ranks, key=ranks.__getitem__)
    training = ({"invoice", "receipt"} - {validating}).pop()
    assert [e["id"] for e in split["validation"]] == ids[validating]
    assert [e["id"] for e in split["train"]] == ids[training]
    text = (out / ("validation.json" if validating == "receipt" else "train.json")).read_text()
    assert text.startswith('[\n {\n  "id": ') and '"value": "Café Zoë"' in text
    alone = corrected.invoke(cli, ["export", "--training", str(tmp_path / "one"), "--schema",
                                   "invoice"])  # fmt: skip
    assert "2 train and 0 validation examples from 1 documents" in alone.output


def test_an_example_answers_with_the_text_the_page_prints(
    corrected: CliRunner, tmp_path: Path
) -> None:
    """A corrected date is stored as an ISO date, but the model learns to read the page: the
    example's answer is the text as printed."""
    fixed = corrected.invoke(cli, ["correct", "1", "--schema", "invoice", "issue_date=03/11/2026"])
    assert fixed.exit_code == 0, fixed.output
    out = tmp_path / "training"
    assert corrected.invoke(cli, ["export", "--training", str(out)]).exit_code == 0
    asked = f"<image>\n{load_schema('invoice').field('issue_date').spec().question}"
    answers = [
        example["conversations"][1]["value"]
        for rows in _split(out).values()
        for example in rows
        if example["conversations"][0]["value"] == asked
    ]
    assert answers == ["03/11/2026"]


def test_each_correction_is_asked_of_its_page_or_says_why_not(
    settings: Settings, tmp_path: Path
) -> None:
    """A value the page does not print is asked of the page its result came from; without
    one, a one-page document's only page, else it is skipped, as is a row of a list.
    Examples follow the documents' order, then the corrections'."""
    one = ingest(settings, badfiles.make_born_digital_pdf(tmp_path)).document_id
    two = ingest(settings, badfiles.make_multipage_pdf(tmp_path, 2)).document_id
    sessions = open_database(settings)
    with sessions() as session:
        session.add_all([
            field_record(two, "vendor", "ACME", page_index=1),
            field_record(two, "total", "1", page_index=None),
            field_record(one, "vendor", "Shop", page_index=None),
            answer_record(two, "Who?", "Bob", page_index=1),
        ])  # fmt: skip
        session.commit()
        corrections = [
            (two, "vendor", "Nowhere Ltd", 0),  # printed nowhere: its field's page
            (two, "total", "7.00", 0),  # nor is its field's: no page
            (two, "vendor", "Second Row Ltd", 1),  # a second row of a one-value field
            (one, "vendor", "Shop Ltd", 0),  # the only page
        ]
        for document_id, name, text, row in corrections:
            correct_invoice_field(session, settings, document_id, name, text, row)
        correct_answer(
            session=session, settings=settings, document_id=two, question="Who?", text="Robert"
        )
        examples, skipped = training_examples(session)
        sha = {d: session.get_one(DocumentRecord, d).sha256 for d in (one, two)}
        own = parse_schema(  # a user's invoice schema, asking its own question
            b"name: invoice\nfields:\n  - name: vendor\n    question: Who sold it?\n",
            source="mine.yaml",
        )
        asked = [(e.page_index, e.question) for e in training_examples(session, schema=own)[0]]
    assert asked == [(0, "Who sold it?"), (1, "Who sold it?")]  # and no answers
    vendor = load_schema("invoice").field("vendor").spec().question
    assert examples == [
        TrainingExample(sha[one], 0, vendor, "Shop Ltd"),
        TrainingExample(sha[two], 1, vendor, "Nowhere Ltd"),
        TrainingExample(sha[two], 1, "Who?", "Robert"),
    ]
    assert skipped == [
        f"document {two}, field:invoice:total: not found on any one page",
        f"document {two}, field:invoice:vendor: a row of a list (one question yields every row)",
    ]


@pytest.mark.slow
def test_finetune_trains_on_the_exported_corrections(
    corrected: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop from corrections to a model: export, fine-tune the tiny model, answer with
    its adapter beside the base model's answers, each saying which model gave it."""
    data, out = tmp_path / "training", tmp_path / "model"
    assert corrected.invoke(cli, ["export", "--training", str(data)]).exit_code == 0
    options = ["--base", "tiny-random", "--out", str(out), "--epochs", "3", "--lora-rank", "4",
               "--batch-size", "2", "--learning-rate", "1e-2", "--device", "cpu"]  # fmt: skip
    result = corrected.invoke(cli, ["finetune", str(data), *options])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["examples"] == 2 and summary["steps"] == 3  # 2 train examples, batches of 2
    assert summary["train_loss_last"] < summary["train_loss_first"]
    assert summary["val_exact_before"] is not None and summary["out"] == str(out)
    assert summary["val_loss_before"] > 0 and summary["val_loss_after"] > 0
    assert (out / "config.json").is_file() and (out / "model.safetensors.index.json").is_file()
    digest = json.loads((out / "adapter" / "adapter.json").read_text())["sha256"][:12]
    adapted = f"tiny-random+adapter.{digest}"
    qa = _qa_folder(tmp_path / "qa")
    for adapter, revision in (("", "tiny-random"), (summary["adapter"], adapted)):
        monkeypatch.setenv("DOCFUSE_ADAPTER", adapter)
        get_settings.cache_clear()
        asked = corrected.invoke(cli, ["ask", "2", QUESTION, "--engine", "tiny-random"])
        assert f"; {revision})" in asked.output or "no answer found" in asked.output
        listed = corrected.invoke(cli, ["documents"]).output
        assert f"florence-vl:{revision}" in listed
        scored = corrected.invoke(cli, ["eval", str(qa), "--format", "qa", "--engine",
                                        "tiny-random", "--json"])  # fmt: skip
        assert json.loads(scored.stdout.strip().splitlines()[-1])["models"] == [revision]
    assert re.search(r"florence-vl:tiny-random +│", listed)  # the base model's, still there


def _qa_folder(folder: Path) -> Path:
    """One question about the sample invoice, as `docfuse eval --format qa` reads it."""
    (invoice,) = [path for path in write_samples(folder) if path.suffix == ".pdf"]
    line = {"file": invoice.name, "question": QUESTION, "answers": ["89.28"]}
    (folder / "qa.jsonl").write_text(json.dumps(line) + "\n")
    return folder


def test_finetune_without_training_data_says_so(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["finetune", str(tmp_path), "--base", "tiny-random"])
    assert result.exit_code == 2 and "no training examples" in result.output


def test_finetune_refuses_an_unknown_fusion_profile(runner: CliRunner, tmp_path: Path) -> None:
    Image.new("RGB", (64, 64), "white").save(tmp_path / "page.png")
    example = {
        "id": "1-0",
        "image": "page.png",
        "conversations": [
            {"from": "human", "value": f"<image>\n{QUESTION}"},
            {"from": "gpt", "value": "1.00"},
        ],
    }
    (tmp_path / "train.json").write_text(json.dumps([example]))
    options = ["--base", "tiny-random", "--fusion-profile", "bogus", "--out", str(tmp_path / "o")]
    result = runner.invoke(cli, ["finetune", str(tmp_path), *options])
    assert result.exit_code == 2 and "fusion profile 'bogus' is not one of" in result.output


def test_the_split_is_a_fifth_of_the_documents_by_a_hash_that_never_changes() -> None:
    """A document's side never changes between exports, whatever else is corrected: it is
    chosen by a hash of its sha256 alone (pinned here), a fifth of them, at least one."""
    documents = [f"{number:064x}" for number in range(10)]
    assert _validation_documents(documents) == {documents[5], documents[6]}
    assert _validation_documents(reversed(documents)) == {documents[5], documents[6]}
    assert _validation_documents(documents[:2]) == {documents[0]}
    assert _validation_documents(documents[:1]) == set()
