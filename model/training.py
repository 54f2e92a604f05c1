"""Supervised fine-tuning on conversations, as Florence-VL's authors train their SFT stage.

One example is a page image, a question and the answer a person gave. The model reads the
chat prompt exactly as it does when answering (`FlorenceVLGenerator.prompt_ids`: the same
template, the same split around `<image>`), followed by the answer and the template's
separator, which ends an assistant turn and is what stops generation. The loss is next-token
cross-entropy over the answer and separator only; prompt and image positions are ignored
(the authors' `IGNORE_INDEX`). The Florence-2 tower stays frozen, as in the authors' runs:
its parameters take no gradient, so autograd records nothing inside it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torch.nn import functional

from model.chat_templates import IMAGE_PLACEHOLDER
from model.generation import FlorenceVLGenerator
from model.modeling_florence_vl import FlorenceVLForConditionalGeneration

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Conversation:
    image: Image.Image
    question: str
    answer: str


@dataclass(frozen=True)
class TrainingBatch:
    """Left-padded rows with image positions expanded; `labels` IGNORE_INDEX but on answers."""

    input_ids: torch.Tensor  # (B, L)
    attention_mask: torch.Tensor  # (B, L)
    labels: torch.Tensor  # (B, L)
    pixel_values: torch.Tensor  # (B, 3, S, S)


def read_conversations(folder: Path, name: str) -> list[Conversation]:
    """`folder/name` in the LLaVA format (`docfuse export --training` writes it): one image
    and one question-answer turn per example, images relative to `folder`."""
    path = folder / name
    if not path.is_file():
        return []
    conversations = []
    for example in json.loads(path.read_text(encoding="utf-8")):
        human, gpt = example["conversations"][:2]
        question = human["value"].replace(IMAGE_PLACEHOLDER, "", 1).strip()
        with Image.open(folder / example["image"]) as image:
            conversations.append(Conversation(image.convert("RGB"), question, gpt["value"]))
    return conversations


def answer_ids(generator: FlorenceVLGenerator, answer: str) -> list[int]:
    """The assistant turn's tokens: the answer, then the template's separator."""
    ids = generator.llm_tokenizer.encode(answer, add_special_tokens=False)
    return [*ids, generator.llm_tokenizer.convert_tokens_to_ids(generator.template.sep)]


def training_batch(
    generator: FlorenceVLGenerator, conversations: Sequence[Conversation]
) -> TrainingBatch:
    prompts = [generator.prompt_ids(c.question) for c in conversations]
    answers = [answer_ids(generator, c.answer) for c in conversations]
    input_ids, attention_mask = generator.batch_prompts(
        [p + a for p, a in zip(prompts, answers, strict=True)]
    )
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    for row, answer in enumerate(answers):  # rows are left-padded: answers end every row
        labels[row, -len(answer) :] = torch.tensor(answer)
    pixel_values = generator.preprocess([c.image for c in conversations])
    return TrainingBatch(input_ids, attention_mask, labels, pixel_values)


def conversation_loss(generator: FlorenceVLGenerator, batch: TrainingBatch) -> torch.Tensor:
    """Mean next-token cross-entropy over the answer tokens of the batch."""
    output = generator.model(batch.input_ids, batch.attention_mask, pixel_values=batch.pixel_values)
    logits = output.logits[:, :-1].float()  # position t predicts token t + 1
    return functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        batch.labels[:, 1:].reshape(-1),
        ignore_index=IGNORE_INDEX,
    )


def freeze_vision_tower(model: FlorenceVLForConditionalGeneration) -> list[nn.Parameter]:
    """Freeze the Florence-2 tower; the parameters that stay trainable (the rest)."""
    for parameter in model.vision_tower.parameters():
        parameter.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]
