"""Supervised fine-tuning on the tiny random model: the loss reads answers only, the tower
stays frozen, and a few steps teach the model a person's values."""

from __future__ import annotations

import pytest
import torch

from model.generation import GenerationSettings
from model.training import (
    IGNORE_INDEX,
    Conversation,
    answer_ids,
    conversation_loss,
    freeze_vision_tower,
    training_batch,
)
from tests.model.vlm_fixtures import page_images, tiny_florence_vl

CORRECTED = [("What is the total?", "12.50"), ("What is the date?", "2026-11-03")]


@pytest.fixture(params=["phi3", "llama"])
def backbone(request) -> str:
    return request.param


def conversations() -> list[Conversation]:
    images = page_images(2)
    return [Conversation(image, q, a) for image, (q, a) in zip(images, CORRECTED, strict=True)]


def test_only_the_answer_and_its_end_token_are_learned(backbone: str) -> None:
    vl = tiny_florence_vl(backbone)
    batch = training_batch(vl, conversations())
    for row, (question, answer) in enumerate(CORRECTED):
        expected = answer_ids(vl, answer)
        learned = batch.labels[row][batch.labels[row] != IGNORE_INDEX].tolist()
        assert learned == expected and expected[-1] in vl.stop_token_ids
        prompt = vl.prompt_ids(question)
        width = len(prompt) - 1 + vl.config.image_tokens + len(expected)
        assert int(batch.attention_mask[row].sum()) == width  # the prompt as answering reads it


def test_thirty_steps_teach_the_tiny_model_the_corrected_values(backbone: str) -> None:
    torch.manual_seed(0)
    vl = tiny_florence_vl(backbone)
    trainable = freeze_vision_tower(vl.model)
    tower_before = [p.detach().clone() for p in vl.model.vision_tower.parameters()]
    projector_before = vl.model.projector.input_layer.weight.detach().clone()
    optimizer = torch.optim.AdamW(trainable, lr=3e-3)
    examples = conversations()
    losses = []
    batch = training_batch(vl, examples)
    for _ in range(30):
        loss = conversation_loss(vl, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert all(
        torch.equal(a, b)
        for a, b in zip(tower_before, vl.model.vision_tower.parameters(), strict=True)
    )
    assert not torch.equal(projector_before, vl.model.projector.input_layer.weight)
    images = [c.image for c in examples]
    requests = [(i, c.question) for i, c in enumerate(examples)]
    answers = vl.answer(images, requests, settings=GenerationSettings(max_new_tokens=12))
    assert [a.text for a in answers] == [answer for _, answer in CORRECTED]
