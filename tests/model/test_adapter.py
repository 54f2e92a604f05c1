"""A fine-tuned adapter beside its base model: applying it gives the fine-tuned model, its
hash names the model revision, and a damaged or foreign adapter is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from model.adapter import CONFIG_NAME, WEIGHTS_NAME, AdapterError, apply_adapter
from model.finetune import ADAPTER_DIR, FinetuneSettings, finetune
from model.generation import FlorenceVLGenerator
from model.training import Conversation, conversation_loss, training_batch
from pipeline.engines.florence_vl import FlorenceVLEngine
from tests.model.vlm_fixtures import page_images, tiny_florence_vl


@pytest.fixture(scope="module")
def examples() -> list[Conversation]:
    (page,) = page_images(1)
    return [Conversation(page, "What is the total?", "12.50")]


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory: pytest.TempPathFactory, examples: list[Conversation]) -> Path:
    out = tmp_path_factory.mktemp("finetuned")
    settings = FinetuneSettings(epochs=4, lora_rank=4, batch_size=1, learning_rate=1e-2)
    finetune(tiny_florence_vl("phi3"), examples, [], out, settings, base="tiny-random")
    return out


def _loss(generator: FlorenceVLGenerator, examples: list[Conversation]) -> torch.Tensor:
    with torch.no_grad():
        return conversation_loss(generator, training_batch(generator, examples))


def test_the_adapter_on_the_base_model_is_the_fine_tuned_model(
    finetuned: Path, examples: list[Conversation]
) -> None:
    description = json.loads((finetuned / ADAPTER_DIR / CONFIG_NAME).read_text())
    assert description["base"] == "tiny-random" and description["lora_rank"] == 4
    merged = FlorenceVLGenerator.from_pretrained(finetuned)
    base = tiny_florence_vl("phi3")
    before = _loss(base, examples)
    digest = apply_adapter(base.model, finetuned / ADAPTER_DIR)
    assert digest == description["sha256"] == merged.config.adapter
    assert base.config.fusion.gains == merged.config.fusion.gains == description["gains"]
    after = _loss(base, examples)
    torch.testing.assert_close(after, _loss(merged, examples), rtol=1e-5, atol=1e-5)
    assert after < 0.5 * before
    assert not any(".lora_" in name for name, _ in base.model.named_parameters())  # merged


def test_model_revisions_name_the_adapter(finetuned: Path) -> None:
    digest = json.loads((finetuned / ADAPTER_DIR / CONFIG_NAME).read_text())["sha256"]
    plain = FlorenceVLEngine.tiny_random()
    adapted = FlorenceVLEngine.tiny_random(adapter=str(finetuned / ADAPTER_DIR))
    merged = FlorenceVLEngine(str(finetuned), device="cpu")
    assert plain.model_revision == "tiny-random"
    assert adapted.model_revision == f"tiny-random+adapter.{digest[:12]}"
    assert merged.model_revision == f"{finetuned}+adapter.{digest[:12]}"


def test_a_damaged_or_foreign_adapter_is_refused(finetuned: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / CONFIG_NAME).write_text((finetuned / ADAPTER_DIR / CONFIG_NAME).read_text())
    weights = bytearray((finetuned / ADAPTER_DIR / WEIGHTS_NAME).read_bytes())
    weights[-1] ^= 1
    (damaged / WEIGHTS_NAME).write_bytes(bytes(weights))
    with pytest.raises(AdapterError, match=f"{damaged}: .* does not match its recorded sha256"):
        apply_adapter(tiny_florence_vl("phi3").model, damaged)
    with pytest.raises(AdapterError, match="not an adapter folder"):
        apply_adapter(tiny_florence_vl("phi3").model, tmp_path)
    llama = tiny_florence_vl("llama")
    names = [name for name, _ in llama.model.named_parameters()]
    with pytest.raises(AdapterError, match="does not fit this model .*'tiny-random'"):
        apply_adapter(llama.model, finetuned / ADAPTER_DIR)
    assert [name for name, _ in llama.model.named_parameters()] == names  # left as it was
