"""The florence-vl engine adapter on real receipt scans with the tiny-random model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from model.generation import GeneratedAnswer
from model.tiny import save_tiny_random
from pipeline.engines.base import Engine, EngineRequest, FieldSpec, Question
from pipeline.engines.florence_vl import (
    FlorenceVLEngine,
    _revision_of,
    attention_implementation,
    field_question,
    resolve_device,
    resolve_dtype,
)
from pipeline.types import Page, TextSource
from tests.conftest import SHARED_DATA as DATA_DIR

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def engine() -> FlorenceVLEngine:
    return FlorenceVLEngine.tiny_random("phi3", seed=0, max_new_tokens=5, batch_size=3)


@pytest.fixture(scope="module")
def pages() -> list[Page]:
    paths = sorted((DATA_DIR / "sroie-dev" / "images").glob("*.jpg"))[:2]
    assert len(paths) == 2, f"SROIE page images missing under {DATA_DIR}"
    # Non-consecutive page indices: answers must keep the index, not a list position.
    return [
        Page.from_image(index, Image.open(path), None, TextSource.OCR)
        for index, path in zip((3, 7), paths, strict=True)
    ]


def test_engine_satisfies_the_protocol(engine: FlorenceVLEngine) -> None:
    assert isinstance(engine, Engine)
    assert engine.name == "florence-vl"
    assert engine.model_revision == "tiny-random"
    assert (engine.device, engine.dtype) == ("cpu", "float32")


def test_answers_batch_in_order(engine: FlorenceVLEngine, pages: list[Page]) -> None:
    questions = [
        Question(page=7, text="What is the total amount?"),
        Question(page=3, text="Which company issued this receipt?"),
        Question(page=7, text="Date?"),
        Question(page=3, text="What is the receipt number?"),
    ]
    answers = engine.answer(pages, questions)
    assert [a.question for a in answers] == questions
    for answer in answers:
        assert isinstance(answer.text, str)
        assert answer.confidence is not None and 0.0 <= answer.confidence <= 1.0
        assert answer.boxes == []


def test_extract_keeps_best_page(engine: FlorenceVLEngine, pages: list[Page]) -> None:
    fields = [FieldSpec(name="total_amount"), FieldSpec(name="date", question="When was it?")]
    values = engine.extract(pages, fields)
    assert [v.field for v in values] == fields
    for value in values:
        assert value.page in (3, 7, None)
        assert (value.page is None) == (value.text == "")
    assert field_question(fields[0]) == "What is the total amount?"
    assert field_question(fields[1]) == "When was it?"


def _coloured_pages() -> list[Page]:
    """Page 3 red and page 7 blue: an image's colour says which page it is."""
    return [
        Page.from_image(index, Image.new("RGB", (32, 32), colour), None, TextSource.OCR)
        for index, colour in ((3, "red"), (7, "blue"))
    ]


def _answer_with_the_colour(
    monkeypatch: pytest.MonkeyPatch, engine: FlorenceVLEngine, confidence: dict[str, float]
) -> None:
    """The model answers each prompt with the colour of the image it was given, at
    `confidence[colour]`; for a colour not listed it is sure there is nothing ("", 0.99)."""
    names = {(255, 0, 0): "red", (0, 0, 255): "blue"}

    def answer(images, prompts, **_options):  # type: ignore[no-untyped-def]
        colours = [names[images[i].getpixel((0, 0))] for i, _ in prompts]
        return [
            GeneratedAnswer(c if c in confidence else "", (), confidence.get(c, 0.99))
            for c in colours
        ]

    monkeypatch.setattr(engine.vlm, "answer", answer)


def test_each_question_is_asked_of_its_own_page(
    engine: FlorenceVLEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A question about page 7 is answered from page 7's image, not the document's first."""
    _answer_with_the_colour(monkeypatch, engine, {"red": 0.5, "blue": 0.5})
    questions = [Question(7, "Total?"), Question(3, "Date?"), Question(7, "Company?")]
    answers = engine.answer(_coloured_pages(), questions)
    assert [a.text for a in answers] == ["blue", "red", "blue"]


def test_extract_keeps_the_most_confident_page(
    engine: FlorenceVLEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field is asked of every page; the most confident non-empty answer is kept (an
    empty one never, however sure)."""
    _answer_with_the_colour(monkeypatch, engine, {"red": 0.3, "blue": 0.8})
    (total,) = engine.extract(_coloured_pages(), [FieldSpec("total")])
    assert (total.text, total.page, total.confidence) == ("blue", 7, 0.8)
    _answer_with_the_colour(monkeypatch, engine, {"red": 0.3})  # page 7: no answer
    (total,) = engine.extract(_coloured_pages(), [FieldSpec("total")])
    assert (total.text, total.page, total.confidence) == ("red", 3, 0.3)
    _answer_with_the_colour(monkeypatch, engine, {"red": 0.9, "blue": 0.4})  # the first page
    (total,) = engine.extract(_coloured_pages(), [FieldSpec("total")])
    assert (total.text, total.page, total.confidence) == ("red", 3, 0.9)
    _answer_with_the_colour(monkeypatch, engine, {})  # no page has it
    (total,) = engine.extract(_coloured_pages(), [FieldSpec("total")])
    assert (total.text, total.page) == ("", None)


def test_documents_share_one_model_call_and_match_one_by_one(
    engine: FlorenceVLEngine, pages: list[Page], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A GPU worker's batch: two documents' questions and fields go through one call."""
    first = EngineRequest([pages[0]], [Question(3, "Total?")], [FieldSpec("date")])
    second = EngineRequest([pages[1]], [Question(7, "Company?")], [FieldSpec("total")])
    alone = [engine.analyze([request])[0] for request in (first, second)]
    prompts_per_call = []
    original = engine.vlm.answer

    def counting(images, prompts, **options):  # type: ignore[no-untyped-def]
        prompts_per_call.append(len(prompts))
        return original(images, prompts, **options)

    monkeypatch.setattr(engine.vlm, "answer", counting)
    together = engine.analyze([first, second])
    assert prompts_per_call == [4]
    for batched, single in zip(together, alone, strict=True):
        assert [(a.question, a.text) for a in batched.answers] == [
            (a.question, a.text) for a in single.answers
        ]
        assert [(f.field, f.text, f.page) for f in batched.fields] == [
            (f.field, f.text, f.page) for f in single.fields
        ]
        confidences = [a.confidence for a in batched.answers + batched.fields]
        expected = [a.confidence for a in single.answers + single.fields]
        assert confidences == pytest.approx(expected, abs=1e-4)


def test_engine_loads_a_released_layout_directory(tmp_path: Path, pages: list[Page]) -> None:
    directory = save_tiny_random(tmp_path / "tiny", backbone="llama", seed=2)
    engine = FlorenceVLEngine(
        str(directory), device="cpu", fusion_profile="document", max_new_tokens=3
    )
    assert engine.model_revision == str(directory)
    assert engine.vlm.config.fusion.gains == {"ocr": 1.5}
    (answer,) = engine.answer(pages, [Question(page=3, text="Total?")])
    assert isinstance(answer.text, str) and 0.0 <= answer.confidence <= 1.0


def test_an_engine_s_defaults_and_the_least_it_accepts(tmp_path: Path) -> None:
    import torch

    directory = save_tiny_random(tmp_path / "tiny", backbone="phi3", seed=1)
    loaded = FlorenceVLEngine(str(directory))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert (loaded.device, loaded.batch_size, loaded.settings.max_new_tokens) == (device, 8, 64)
    assert loaded.model_name == str(directory) and loaded.vlm.config.fusion.gains == {}
    tiny = FlorenceVLEngine.tiny_random()
    assert (tiny.batch_size, tiny.settings.max_new_tokens) == (8, 16)
    assert type(tiny.vlm.model.language_model).__name__ == "Phi3ForCausalLM"
    seeded = FlorenceVLEngine.tiny_random(seed=0).vlm.model.state_dict()
    assert all(torch.equal(v, seeded[k]) for k, v in tiny.vlm.model.state_dict().items())
    other = FlorenceVLEngine.tiny_random(seed=1).vlm.model.state_dict()
    assert not all(torch.equal(v, other[k]) for k, v in seeded.items())
    least = FlorenceVLEngine.tiny_random(batch_size=1, max_new_tokens=1)
    assert (least.batch_size, least.settings.max_new_tokens) == (1, 1)
    assert tiny.vlm.config.fusion.gains == {}
    document = FlorenceVLEngine.tiny_random(fusion_profile="document", dtype="bfloat16")
    assert document.vlm.config.fusion.gains == {"ocr": 1.5}
    assert {p.dtype for p in document.vlm.model.parameters()} == {torch.bfloat16}
    for wrong in ({"batch_size": 0}, {"max_new_tokens": 0}):
        with pytest.raises(ValueError, match=r"must be >= 1"):
            FlorenceVLEngine.tiny_random(**wrong)


def test_unknown_page_is_named(engine: FlorenceVLEngine, pages: list[Page]) -> None:
    with pytest.raises(ValueError, match=r"\[9\]"):
        engine.answer(pages, [Question(page=9, text="Total?")])
    with_fields = EngineRequest(pages, [Question(page=9, text="Total?")], [FieldSpec("total")])
    with pytest.raises(ValueError, match=r"pages \[9\], not among pages \[3, 7\]"):
        engine.analyze([with_fields])


def test_answers_stop_at_the_engine_s_token_limit(pages: list[Page]) -> None:
    """max_new_tokens reaches generation: one token is a prefix of what five give."""
    questions = [Question(page=3, text="Total?"), Question(page=7, text="Date?")]
    short, long = (
        FlorenceVLEngine.tiny_random("phi3", seed=0, max_new_tokens=n).answer(pages, questions)
        for n in (1, 5)
    )
    assert all(
        long_one.text.startswith(one.text) for one, long_one in zip(short, long, strict=True)
    )
    assert sum(map(len, (a.text for a in short))) < sum(map(len, (a.text for a in long)))


def test_device_and_dtype_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `auto` means on a machine with and without CUDA and flash-attn, whichever this
    one is: a GPU gets bfloat16, and flash-attn only where both are."""
    import importlib.util

    import torch

    assert resolve_dtype("auto", "cuda") == "bfloat16"
    assert resolve_dtype("auto", "cpu") == "float32"
    with pytest.raises(ValueError, match="'int8'"):
        resolve_dtype("int8", "cpu")
    assert resolve_device("cuda:1") == "cuda:1"
    for cuda in (True, False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda cuda=cuda: cuda)
        assert resolve_device("auto") == ("cuda" if cuda else "cpu")
    find_spec = importlib.util.find_spec
    for installed in (True, False):
        flash = object() if installed else None  # the module's spec, or none found
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, flash=flash: flash if name == "flash_attn" else find_spec(name),
        )
        assert attention_implementation("cuda:0") == ("flash_attention_2" if installed else "sdpa")
        assert attention_implementation("cpu") == "sdpa"


def test_a_revision_names_the_hub_commit_and_the_adapter(tmp_path: Path) -> None:
    """A checkpoint from the hub's cache is named with its commit; a merged adapter adds its
    hash, so two fine-tunings into one folder are two revisions."""
    snapshot = save_tiny_random(tmp_path / "models--org--tiny" / "snapshots" / "0123abcd", seed=3)
    engine = FlorenceVLEngine(str(snapshot), device="cpu", max_new_tokens=1)
    assert engine.model_revision == f"{snapshot}@0123abcd"
    engine.vlm.config.adapter = "0123456789abcdef" * 4
    assert _revision_of("org/tiny", engine.vlm) == "org/tiny@0123abcd+adapter.0123456789ab"


def test_importing_engines_does_not_import_torch() -> None:
    code = "import sys, pipeline.engines.florence_vl; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
