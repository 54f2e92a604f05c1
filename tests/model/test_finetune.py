"""Fine-tuning on corrections, on the tiny random model: LoRA + projector, tower frozen;
the loss falls, a training page gets its corrected value, the saved model loads with the
same logits, and a run stopped after an epoch resumes as if it never stopped."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.finetune import STATE_FILE, FinetuneSettings, finetune
from model.generation import FlorenceVLGenerator
from model.training import Conversation, training_batch
from tests.model.vlm_fixtures import page_images, tiny_florence_vl


def corrected() -> list[Conversation]:
    first, second = page_images(2)
    return [
        Conversation(first, "What is the total?", "12.50"),
        Conversation(second, "What is the date?", "2026-11-03"),
    ]


def test_thirty_steps_learn_a_corrected_value_and_the_saved_model_keeps_it(
    tmp_path: Path,
) -> None:
    vl, examples = tiny_florence_vl("phi3"), corrected()
    settings = FinetuneSettings(epochs=30, lora_rank=16, batch_size=2, learning_rate=1e-2)
    tower = [p.detach().clone() for p in vl.model.vision_tower.parameters()]
    result = finetune(vl, examples, examples, tmp_path / "out", settings)
    assert result.steps == 30 and result.losses[-1] < 0.1 * result.losses[0]
    assert result.val_exact_before == 0.0 and result.val_exact_after >= 0.5
    assert result.val_loss_after < 0.1 * result.val_loss_before  # the same pages, here
    assert all(
        torch.equal(a, b) for a, b in zip(tower, vl.model.vision_tower.parameters(), strict=True)
    )
    assert not (tmp_path / "out" / STATE_FILE).exists()  # finished: no state to resume
    gains = vl.config.fusion.gains  # learned from 1.0 (the default profile) and kept
    assert vl.config.fusion.gains_learned and set(gains) == set(vl.config.fusion.branches)
    assert all(abs(gain - 1.0) > 1e-3 for gain in gains.values())
    # Saved with the learned gains, which a gain profile asked for at load does not replace.
    loaded = FlorenceVLGenerator.from_pretrained(tmp_path / "out", gain_profile="document")
    assert loaded.config.fusion.gains == gains
    with torch.no_grad():
        batch = training_batch(vl, examples)

        def logits(generator: FlorenceVLGenerator) -> torch.Tensor:
            return generator.model(
                batch.input_ids, batch.attention_mask, pixel_values=batch.pixel_values
            ).logits

        torch.testing.assert_close(logits(loaded), logits(vl), rtol=1e-4, atol=1e-4)


class Stop(Exception):
    pass


def test_a_run_stopped_after_an_epoch_resumes_where_it_stopped(tmp_path: Path) -> None:
    settings = FinetuneSettings(epochs=3, lora_rank=4, batch_size=1, learning_rate=3e-3)
    whole = finetune(tiny_florence_vl("phi3"), corrected(), [], tmp_path / "whole", settings)

    def stop_in_epoch_three(step: int, total: int, loss: float) -> None:
        if step == 5:  # two steps per epoch: the first of the third
            raise Stop

    with pytest.raises(Stop):
        finetune(tiny_florence_vl("phi3"), corrected(), [], tmp_path / "run", settings,
                 on_step=stop_in_epoch_three)  # fmt: skip
    assert (tmp_path / "run" / STATE_FILE).is_file()
    resumed = finetune(tiny_florence_vl("phi3"), corrected(), [], tmp_path / "run", settings)
    assert resumed.steps == whole.steps == 6
    assert resumed.losses == pytest.approx(whole.losses, rel=1e-5)
    a = FlorenceVLGenerator.from_pretrained(tmp_path / "whole").model.projector.state_dict()
    b = FlorenceVLGenerator.from_pretrained(tmp_path / "run").model.projector.state_dict()
    for name in a:
        torch.testing.assert_close(a[name], b[name])


def test_gradient_checkpointing_trains_the_same_model(tmp_path: Path) -> None:
    """Recomputing activations in the backward pass (as on a GPU) changes memory, not
    results: the same losses and the same trained projector as keeping them."""
    runs = {}
    for checkpointing in (False, True):
        vl = tiny_florence_vl("phi3")
        seen = []

        def on_step(step: int, total: int, loss: float, vl=vl, seen=seen) -> None:
            llm = vl.model.language_model  # the property's name depends on the release
            on = getattr(llm, "is_activation_checkpointing", None)
            seen.append(llm.is_gradient_checkpointing if on is None else on)

        settings = FinetuneSettings(
            epochs=2, lora_rank=4, batch_size=2, learning_rate=3e-3,
            gradient_checkpointing=checkpointing,
        )  # fmt: skip
        result = finetune(vl, corrected(), [], tmp_path / str(checkpointing), settings, on_step)
        assert seen == [checkpointing, checkpointing]
        runs[checkpointing] = (result.losses, vl.model.projector.state_dict())
    assert runs[True][0] == pytest.approx(runs[False][0], rel=1e-5)
    for name, weight in runs[False][1].items():
        torch.testing.assert_close(runs[True][1][name], weight)
