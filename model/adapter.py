"""A fine-tuned adapter: what fine-tuning changed, small enough to keep beside the base model.

`adapter.safetensors` holds the LoRA weights of the LLM and the projector's weights, by
parameter name; `adapter.json` the LoRA settings, the learned fusion gains, the base model it
was trained on and the adapter's sha256 (of both). Applying it merges the LoRA weights into
the LLM, so the model then answers at the base model's speed. The sha256 names the adapter:
a model with one applied (or merged in by fine-tuning) carries it in `config.adapter`, and
the app keys results by a model revision that names it, so they never overwrite the base
model's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from peft import LoraConfig, LoraModel
from safetensors.torch import load, save

from model.modeling_florence_vl import FlorenceVLForConditionalGeneration

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "adapter.safetensors"
CONFIG_NAME = "adapter.json"
ADAPTER_NAME = "default"


class AdapterError(ValueError):
    """An adapter folder that is incomplete or does not fit the model."""


def lora_config(rank: int) -> LoraConfig:
    """LoRA on every linear layer of the LLM but its head, alpha twice the rank."""
    return LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear")


def attach_lora(model: FlorenceVLForConditionalGeneration, rank: int) -> None:
    model.language_model = LoraModel(model.language_model, lora_config(rank), ADAPTER_NAME)


def save_adapter(
    model: FlorenceVLForConditionalGeneration, directory: Path, *, rank: int, base: str
) -> str:
    """Write the model's LoRA and projector weights (before merging) and its fusion gains;
    returns the adapter's sha256."""
    weights = {
        name: parameter.detach().contiguous()
        for name, parameter in model.named_parameters()
        if parameter.requires_grad and not name.startswith("fusion.")
    }
    directory.mkdir(parents=True, exist_ok=True)
    data = save(weights)
    (directory / WEIGHTS_NAME).write_bytes(data)
    gains = dict(model.config.fusion.gains)
    digest = _digest(data, gains)
    description = {"base": base, "lora_rank": rank, "gains": gains, "sha256": digest}
    (directory / CONFIG_NAME).write_text(json.dumps(description, indent=2) + "\n")
    return digest


def apply_adapter(model: FlorenceVLForConditionalGeneration, directory: Path) -> str:
    """Merge the adapter in `directory` into `model` and set its learned gains; returns the
    adapter's sha256 (also left in `model.config.adapter`)."""
    description, weights = _read(directory)
    attach_lora(model, int(description["lora_rank"]))
    parameters = dict(model.named_parameters())
    lora = {name for name in parameters if ".lora_" in name}
    stray = sorted(set(weights) - set(parameters))
    missing = sorted(lora - set(weights))
    if stray or missing:
        model.language_model = model.language_model.unload()  # the model as it was
        raise AdapterError(
            f"{directory}: adapter does not fit this model (trained on {description['base']!r}):"
            f" {len(stray)} weights it has no place for, {len(missing)} LoRA weights missing"
        )
    with torch.no_grad():
        for name, value in weights.items():
            parameters[name].copy_(value)
    merge_adapter(model, description["sha256"])
    model.config.fusion.set_learned_gains(description["gains"])
    logger.info("applied adapter %s (trained on %s)", directory, description["base"])
    return description["sha256"]


def merge_adapter(model: FlorenceVLForConditionalGeneration, digest: str) -> None:
    """Merge the attached LoRA weights into the LLM and record which adapter they were."""
    model.language_model = model.language_model.merge_and_unload()
    model.config.adapter = digest


def _read(directory: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    config, weights = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not config.is_file() or not weights.is_file():
        raise AdapterError(f"{directory}: not an adapter folder ({CONFIG_NAME}, {WEIGHTS_NAME})")
    description = json.loads(config.read_text(encoding="utf-8"))
    data = weights.read_bytes()  # read once: hashed, then loaded
    if _digest(data, description.get("gains", {})) != description.get("sha256"):
        raise AdapterError(f"{directory}: {WEIGHTS_NAME} does not match its recorded sha256")
    return description, load(data)


def _digest(weights: bytes, gains: dict[str, float]) -> str:
    digest = hashlib.sha256(weights)
    digest.update(json.dumps(gains, sort_keys=True).encode())
    return digest.hexdigest()
