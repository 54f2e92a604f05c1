"""Decode steps: feed each chosen token back into the LLM and return the next logits.

`generate` runs one prefill and then one step per new token. How a step runs is a choice
with large effects on a GPU and none on the answers:
- `dynamic`: transformers' `DynamicCache`, which grows by one position per step (a copy of
  every layer's keys and values each time) and launches every kernel from Python;
- `static`: a `StaticCache` sized for the whole answer, written in place, with the attention
  mask as a preallocated (B, 1, 1, S) buffer, so that every step has the same shapes and
  tensor addresses;
- `graph`: `static`, with the step captured once as a CUDA graph and replayed per token. At
  the batch sizes a worker runs, launching a step's ~500 kernels one by one costs more than
  running them; a replay launches them all at once.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import MethodType
from typing import Any, Literal

import torch
from torch import nn
from transformers import PreTrainedModel, StaticCache
from transformers.cache_utils import Cache

logger = logging.getLogger(__name__)

DecodeMode = Literal["auto", "dynamic", "static", "graph"]
DECODE_MODES: tuple[DecodeMode, ...] = ("auto", "dynamic", "static", "graph")

# (inputs_embeds, attention_mask, position_ids, cache) -> last position's logits (B, V)
LLMStep = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Cache | None], torch.Tensor]


def resolve_decode_mode(mode: DecodeMode, device: torch.device, attention: str) -> DecodeMode:
    """`auto`: CUDA graphs on a GPU; on a CPU launches are cheap and a cache sized for the
    whole answer only makes attention longer, so the growing cache there. The static modes
    hand the model a boolean 4-D mask, which only SDPA attention reads as such."""
    if mode not in DECODE_MODES:
        raise ValueError(f"decode mode must be one of {', '.join(DECODE_MODES)}, got {mode!r}")
    if mode == "auto":
        return "graph" if device.type == "cuda" and attention == "sdpa" else "dynamic"
    if mode != "dynamic" and attention != "sdpa":
        raise ValueError(f"decode mode {mode!r} needs SDPA attention, not {attention}")
    if mode == "graph" and device.type != "cuda":
        raise ValueError(f"decode mode 'graph' needs a CUDA device, not {device.type}")
    return mode


class DynamicSteps:
    """Steps over a growing cache (or, with `cache=None`, the whole sequence every step)."""

    def __init__(
        self,
        step: LLMStep,
        embed_tokens: nn.Module,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: Cache | None,
    ) -> None:
        self.step, self.embed_tokens, self.cache = step, embed_tokens, cache
        self.inputs_embeds, self.attention_mask = inputs_embeds, attention_mask
        self.position_ids = position_ids

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        ones = self.attention_mask.new_ones(tokens.shape[0], 1)
        self.attention_mask = torch.cat([self.attention_mask, ones], dim=1)
        next_position = self.position_ids[:, -1:] + 1  # (B, 1)
        self.position_ids = torch.cat([self.position_ids, next_position], dim=1)
        next_embeds = self.embed_tokens(tokens[:, None])  # (B, 1, H)
        if self.cache is not None:
            return self.step(next_embeds, self.attention_mask, next_position, self.cache)
        self.inputs_embeds = torch.cat([self.inputs_embeds, next_embeds], dim=1)
        return self.step(self.inputs_embeds, self.attention_mask, self.position_ids, None)


class StaticSteps:
    """Steps over a `StaticCache` holding the prefilled prompt and room for `new_tokens`.

    Every input of a step lives in a buffer updated in place (the token, its position, the
    attention mask over all S cache slots), so the step is the same computation on the same
    addresses each time: exactly what a CUDA graph needs (`capture`).
    """

    def __init__(
        self,
        step: LLMStep,
        language_model: PreTrainedModel,
        prefilled: Cache,
        attention_mask: torch.Tensor,
        last_positions: torch.Tensor,
        new_tokens: int,
    ) -> None:
        """`prefilled`: the prompt's dynamic cache (emptied here, its memory given back);
        `attention_mask` (B, L) its mask; `last_positions` (B, 1) each row's last position."""
        self.step, self.language_model = step, language_model
        self.embed_tokens = language_model.get_input_embeddings()
        rows, self.length = attention_mask.shape
        slots = self.length + new_tokens
        self.cache = StaticCache(config=language_model.config, max_cache_len=slots)
        for index, layer in enumerate(_layers(prefilled)):
            self.cache.update(layer.keys, layer.values, index)  # slots 0..L-1
            layer.keys = layer.values = None  # one copy of the prompt's cache at a time
        device = attention_mask.device
        self.mask = torch.zeros(rows, 1, 1, slots, dtype=torch.bool, device=device)
        self.mask[:, 0, 0, : self.length] = attention_mask.bool()
        self.positions = last_positions.clone()
        self.tokens = torch.zeros(rows, 1, dtype=torch.long, device=device)
        self.steps = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.logits: torch.Tensor | None = None

    def _run(self) -> torch.Tensor:
        """One step from the buffers; the cache advances its own write position."""
        return self.step(self.embed_tokens(self.tokens), self.mask, self.positions, self.cache)

    def capture(self) -> None:
        """Record the step as a CUDA graph; where it cannot be, a warning and eager steps.

        A warm-up step runs first on a side stream, as capture requires; it writes the next
        cache slot, which the first real step overwrites, and its advance of the cache's
        write position is undone.
        """
        slot = self.length + self.steps
        self.mask[:, 0, 0, slot] = True
        side = torch.cuda.Stream(device=self.tokens.device)
        side.wait_stream(torch.cuda.current_stream(self.tokens.device))
        try:
            with torch.cuda.stream(side):
                self._run()
            torch.cuda.current_stream(self.tokens.device).wait_stream(side)
            self._rewind(slot)
            graph = torch.cuda.CUDAGraph()
            with rope_frozen(self.language_model, self.mask.shape[-1]), torch.cuda.graph(graph):
                self.logits = self._run()
        except RuntimeError as error:  # e.g. a model whose step syncs with the host
            logger.warning("decode step not captured as a CUDA graph (%s): eager steps", error)
            self._rewind(slot)
            return
        finally:
            self.mask[:, 0, 0, slot] = False
        self.graph = graph

    def _rewind(self, slot: int) -> None:
        for layer in _layers(self.cache):
            layer.cumulative_length.fill_(slot)

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        self.tokens.copy_(tokens[:, None])
        self.mask[:, 0, 0, self.length + self.steps] = True
        self.positions += 1
        self.steps += 1
        if self.graph is None:
            return self._run()
        self.graph.replay()
        assert self.logits is not None
        return self.logits


@contextmanager
def rope_frozen(language_model: PreTrainedModel, positions: int) -> Iterator[None]:
    """Longrope rotary embeddings (Phi-3.5's) run their frequencies' forward undecorated.

    On every call, longrope picks short or long frequencies by comparing the largest position
    with the pretraining length: a question to the device, which a CUDA graph cannot record.
    When none of the `positions` can pass that length, the answer is already known (short,
    set by the eager steps before), and the undecorated forward computes what the decorated
    one would. Otherwise the decorated forward stays, and capture fails as it must.
    """
    modules = [
        module
        for module in language_model.modules()
        if (limit := _longrope_length(module)) is not None and positions <= limit
    ]
    for module in modules:
        module.forward = MethodType(inspect.unwrap(type(module).forward), module)
    try:
        yield
    finally:
        for module in modules:
            del module.forward


def _longrope_length(module: Any) -> int | None:
    """A longrope embedding's pretraining length, where it switches to long frequencies."""
    if getattr(module, "rope_type", None) != "longrope":
        return None
    return int(module.config.rope_parameters["original_max_position_embeddings"])


def _layers(cache: Cache) -> list[Any]:
    """A cache's per-layer stores (keys, values and, for static ones, the write position),
    whose attributes transformers' types leave to each layer class."""
    return list(cache.layers)
