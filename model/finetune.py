"""Fine-tuning Florence-VL on a user's corrections: LoRA on the LLM, the projector in full,
the Florence-2 tower frozen (as the authors' SFT stage, with LoRA so one GPU suffices), and
the DBFusion branch gains as trainable scalars, so how much the OCR-prompt features weigh
is learned from the user's pages.

A run checkpoints after every epoch (`STATE_FILE` in the output folder: the trainable
weights, adapter and projector, by name; the optimizer; the random state; the losses) and,
started again on the same folder, resumes after the last epoch it finished. At the end the
adapter is saved on its own (`out/adapter`, for `DOCFUSE_ADAPTER` beside the base model),
then merged into the LLM and the whole model saved in the released layout, so
`DOCFUSE_MODEL` loads it like any checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from model.adapter import attach_lora, merge_adapter, save_adapter
from model.config import FusionConfig
from model.generation import FlorenceVLGenerator, GenerationSettings
from model.tiny import TINY_REVISION, tiny_random_generator
from model.training import Conversation, conversation_loss, freeze_vision_tower, training_batch

STATE_FILE = "finetune-state.pt"
ADAPTER_DIR = "adapter"
# The authors' SFT learning rates per chat template (FLORENCE_VL.md).
SFT_LEARNING_RATES = {"phi3": 9e-5, "llama3": 1e-5}
ANSWER_TOKENS = 64  # enough for a field value when validating


@dataclass(frozen=True)
class FinetuneSettings:
    epochs: int = 3
    lora_rank: int = 64
    batch_size: int = 4
    learning_rate: float | None = None  # None: the authors' rate for the model's template
    # Adam moves a parameter by about its rate per step: at the SFT rate a gain would move by
    # under 0.1 in a thousand steps, so the four scalars get a rate of their own.
    gain_learning_rate: float = 1e-3
    # Recompute each LLM layer's activations in the backward pass instead of keeping them:
    # on a GPU the 3B model trains at batch 4 in bf16 within one card. None: on CUDA only.
    gradient_checkpointing: bool | None = None
    seed: int = 0


@dataclass
class FinetuneResult:
    examples: int
    steps: int = 0
    losses: list[float] = field(default_factory=list)
    val_exact_before: float | None = None
    val_exact_after: float | None = None
    val_loss_before: float | None = None
    val_loss_after: float | None = None

    def summary(self, out: Path) -> dict[str, object]:
        return {
            "examples": self.examples,
            "steps": self.steps,
            "train_loss_first": self.losses[0] if self.losses else None,
            "train_loss_last": self.losses[-1] if self.losses else None,
            "val_exact_before": self.val_exact_before,
            "val_exact_after": self.val_exact_after,
            "val_loss_before": self.val_loss_before,
            "val_loss_after": self.val_loss_after,
            "out": str(out),
            "adapter": str(out / ADAPTER_DIR),
        }


def finetune(
    generator: FlorenceVLGenerator,
    train: Sequence[Conversation],
    validation: Sequence[Conversation],
    out: Path,
    settings: FinetuneSettings = FinetuneSettings(),
    on_step: Callable[[int, int, float], None] | None = None,
    *,
    base: str = "",
) -> FinetuneResult:
    """Train, validate before and after, save the adapter and the merged model to `out`.
    `on_step(step, total_steps, loss)` reports progress; `base` names the model trained."""
    if not train:
        raise ValueError("no training examples")
    out.mkdir(parents=True, exist_ok=True)
    model = generator.model
    optimizer = prepare_training(generator, settings)
    result, first_epoch = _resume(generator, optimizer, out / STATE_FILE, len(train))
    if result.val_exact_before is None:
        result.val_exact_before = exact_match(generator, validation)
        result.val_loss_before = validation_loss(generator, validation, settings.batch_size)
    per_epoch = -(-len(train) // settings.batch_size)
    for epoch in range(first_epoch, settings.epochs):
        for chunk in _epoch_batches(train, settings, epoch):
            result.steps += 1
            result.losses.append(training_step(generator, optimizer, chunk))
            if on_step is not None:
                on_step(result.steps, per_epoch * settings.epochs, result.losses[-1])
        _save_state(generator, optimizer, result, epoch + 1, out / STATE_FILE)
    model.fusion.settle_gains()
    adapter = save_adapter(model, out / ADAPTER_DIR, rank=settings.lora_rank, base=base)
    merge_adapter(model, adapter)
    model.eval()
    generator.feature_cache.clear()  # features projected by the projector before training
    result.val_exact_after = exact_match(generator, validation)
    result.val_loss_after = validation_loss(generator, validation, settings.batch_size)
    generator.save_pretrained(out)
    (out / STATE_FILE).unlink()
    return result


def prepare_training(
    generator: FlorenceVLGenerator, settings: FinetuneSettings
) -> torch.optim.Optimizer:
    """Attach LoRA, make the gains trainable, freeze the tower, switch checkpointing on
    where the settings say; the optimizer over what trains."""
    torch.manual_seed(settings.seed)  # the adapter's initial weights: a rerun starts alike
    optimizer = torch.optim.AdamW(_trainable_groups(generator, settings))
    if _checkpointing(settings, generator):
        _enable_checkpointing(generator.model.language_model)
    return optimizer


def training_step(
    generator: FlorenceVLGenerator, optimizer: torch.optim.Optimizer, batch: list[Conversation]
) -> float:
    """One optimizer step on `batch`; its loss."""
    model = generator.model
    model.train()
    model.vision_tower.eval()  # frozen: no dropout either, it reads pages as it will
    loss = conversation_loss(generator, training_batch(generator, batch))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def load_base(base: str, device: str, fusion_profile: str = "default") -> FlorenceVLGenerator:
    """`tiny-random` (the tiny random phi3 model, for tests and smoke runs), or a released-
    layout checkpoint (folder or hub id); bfloat16 on a GPU, float32 on the CPU. The fusion
    gains start from `fusion_profile` (the one the app answers with)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    if base == TINY_REVISION:
        gains = FusionConfig().with_profile(fusion_profile).gains
        return tiny_random_generator("phi3", device=device, dtype=dtype, gains=gains)
    return FlorenceVLGenerator.from_pretrained(
        base, device=device, dtype=dtype, gain_profile=fusion_profile
    )


@torch.no_grad()
def validation_loss(
    generator: FlorenceVLGenerator, conversations: Sequence[Conversation], batch_size: int
) -> float | None:
    """The training loss on held-out examples, averaged over them (None without any)."""
    if not conversations:
        return None
    total = 0.0
    for start in range(0, len(conversations), batch_size):
        chunk = conversations[start : start + batch_size]
        total += conversation_loss(generator, training_batch(generator, chunk)).item() * len(chunk)
    return total / len(conversations)


def exact_match(
    generator: FlorenceVLGenerator, conversations: Sequence[Conversation]
) -> float | None:
    """Share of greedy answers equal to the expected ones (None without examples)."""
    if not conversations:
        return None
    images = [c.image for c in conversations]
    requests = [(i, c.question) for i, c in enumerate(conversations)]
    settings = GenerationSettings(max_new_tokens=ANSWER_TOKENS)
    answers = generator.answer(images, requests, settings=settings)
    right = sum(a.text == c.answer.strip() for a, c in zip(answers, conversations, strict=True))
    return right / len(conversations)


def _trainable_groups(
    generator: FlorenceVLGenerator, settings: FinetuneSettings
) -> list[dict[str, object]]:
    """LoRA on every linear layer of the LLM but its head and the projector in full, at the
    SFT rate; the fusion gains at theirs. The tower is frozen."""
    model = generator.model
    freeze_vision_tower(model)
    attach_lora(model, settings.lora_rank)
    weights = [p for p in model.parameters() if p.requires_grad]
    rate = settings.learning_rate or SFT_LEARNING_RATES.get(generator.template.name, 1e-5)
    gains = model.fusion.learn_gains()
    return [
        {"params": weights, "lr": rate},
        {"params": gains, "lr": settings.gain_learning_rate, "weight_decay": 0.0},
    ]


def _checkpointing(settings: FinetuneSettings, generator: FlorenceVLGenerator) -> bool:
    if settings.gradient_checkpointing is None:
        return generator.device.type == "cuda"
    return settings.gradient_checkpointing


def _enable_checkpointing(language_model: torch.nn.Module) -> None:
    """Non-reentrant, which needs no gradient on the (frozen) inputs. transformers 5.24
    calls it activation checkpointing; 5.17, which GPU images ship, gradient checkpointing."""
    name = "activation_checkpointing_enable"
    if not hasattr(language_model, name):
        name = "gradient_checkpointing_enable"
    getattr(language_model, name)({"use_reentrant": False})


def _epoch_batches(
    train: Sequence[Conversation], settings: FinetuneSettings, epoch: int
) -> list[list[Conversation]]:
    """One epoch's batches in an order fixed by seed and epoch, so a resumed run trains
    exactly what the uninterrupted one would have."""
    order = torch.Generator().manual_seed(settings.seed * 1_000_003 + epoch)
    permutation = torch.randperm(len(train), generator=order).tolist()
    size = settings.batch_size
    return [[train[i] for i in permutation[s : s + size]] for s in range(0, len(train), size)]


def _save_state(
    generator: FlorenceVLGenerator,
    optimizer: torch.optim.Optimizer,
    result: FinetuneResult,
    epochs_done: int,
    path: Path,
) -> None:
    state = {
        "epochs_done": epochs_done,
        "trainable": {
            name: parameter.detach().clone()
            for name, parameter in generator.model.named_parameters()
            if parameter.requires_grad
        },
        "optimizer": optimizer.state_dict(),
        "random": torch.get_rng_state(),
        "result": result,
    }
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)  # a kill mid-save leaves the previous state whole


def _resume(
    generator: FlorenceVLGenerator, optimizer: torch.optim.Optimizer, path: Path, examples: int
) -> tuple[FinetuneResult, int]:
    if not path.is_file():
        return FinetuneResult(examples), 0
    state = torch.load(path, weights_only=False)
    parameters = dict(generator.model.named_parameters())
    for name, value in state["trainable"].items():  # adapter and projector, by name
        parameters[name].data.copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["random"])
    return state["result"], state["epochs_done"]
