"""Florence-VL: Florence-2 vision tower -> DBFusion -> projector -> LLM (Phi-3.5 or Llama-3.1).

Follows the familiar transformers VLM layout (`models/llava/modeling_llava.py`):
`get_image_features` returns projected image tokens, `get_placeholder_mask` checks that the
prompt's image positions and the features agree in count, `masked_scatter` splices them in and
`forward` returns a typed output. Unlike LLaVA-in-transformers the prompt carries ONE `<image>`
placeholder that stands for all image tokens (as in the authors' LLaVA fork); the batching code
in `model/generation.py` expands it to `config.image_tokens` positions of
`config.image_token_index` before calling this module.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModelForCausalLM, DynamicCache, PreTrainedTokenizerBase
from transformers.cache_utils import Cache

from model.config import FlorenceVLConfig
from model.decode_steps import DecodeMode, DynamicSteps, StaticSteps, resolve_decode_mode
from model.florence2_keys import florence2_config_from_original
from model.florence2_tokenizer import (
    check_released_prompt_ids,
    has_bart_vocabulary,
    tokenize_prompts,
)
from model.fusion import FlorenceVLFusion
from model.projector import FlorenceVLProjector
from model.vision_tower import FLORENCE_VL_PROMPTS, FlorenceVisionTower

logger = logging.getLogger(__name__)

# Tokens decoded on a GPU between two checks for every row having stopped (each check waits
# for the device to catch up).
STOP_CHECK_EVERY = 8


@dataclass
class FlorenceVLOutput:
    """`logits` (B, L or 1, V); `image_features` (B, T, H) when computed in this call."""

    logits: torch.Tensor
    cache: Cache | None = None
    image_features: torch.Tensor | None = None


@dataclass
class GenerationOutput:
    """`sequences` (B, S) new tokens, `pad_token_id` after a row stopped; `token_probs` (B, S)
    the model's unprocessed probability of each chosen token (0 after a row stopped);
    `lengths` (B,) tokens per row including its stop token."""

    sequences: torch.Tensor
    token_probs: torch.Tensor
    lengths: torch.Tensor


class FlorenceVLForConditionalGeneration(nn.Module):
    def __init__(self, config: FlorenceVLConfig, *, attn_implementation: str = "sdpa") -> None:
        super().__init__()
        self.config = config
        self.vision_tower = FlorenceVisionTower(
            florence2_config_from_original(config.florence2_config),
            include_pooled_token=config.fusion.include_pooled_token,
        )
        self.fusion = FlorenceVLFusion(config.fusion)
        self.projector = FlorenceVLProjector(config)
        self.language_model = AutoModelForCausalLM.from_config(
            config.text_config, attn_implementation=attn_implementation
        )
        self._cache_keyword = cache_keyword(self.language_model)

    def set_prompts(self, florence2_tokenizer: PreTrainedTokenizerBase) -> None:
        """Tokenize the fusion's prompt branches with Florence-2's tokenizer for the tower.

        Kept out of `__init__` because the tokenizer is loaded from a checkpoint directory or
        the hub, and the prompts are configuration (text), never hard-coded token ids.
        """
        names = self.config.fusion.prompt_branches
        if not names:
            return
        input_ids, attention_mask = tokenize_prompts(
            florence2_tokenizer, [FLORENCE_VL_PROMPTS[name] for name in names]
        )
        if has_bart_vocabulary(florence2_tokenizer):
            check_released_prompt_ids(names, input_ids, attention_mask)
        self.vision_tower.set_prompts(input_ids, attention_mask, names=names)

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) normalised images -> (B, T, H) projected image tokens for the LLM."""
        if self.config.fusion.prompt_branches:
            features = self.vision_tower(pixel_values)
            low_level, prompt_features = features.low_level, features.prompts
        else:  # "V only": skip the BART encoder passes entirely.
            low_level = self.vision_tower.image_features(pixel_values)  # (B, 577, C)
            if not self.config.fusion.include_pooled_token:
                low_level = low_level[:, 1:]  # the pooled token comes first
            prompt_features = low_level.new_empty(*low_level.shape[:1], 0, *low_level.shape[1:])
        fused = self.fusion(low_level, prompt_features)  # (B, T, D)
        return self.projector(fused.to(self.projector.input_layer.weight.dtype))

    def get_placeholder_mask(
        self, input_ids: torch.Tensor, image_features: torch.Tensor
    ) -> torch.Tensor:
        """(B, L) bool mask of image positions; raises when they do not match the features."""
        mask = input_ids == self.config.image_token_index
        n_positions, n_features = int(mask.sum()), image_features.shape[0] * image_features.shape[1]
        if n_positions != n_features:
            raise ValueError(
                f"image placeholders and image features do not match: {n_positions} image "
                f"positions in input_ids, {n_features} image feature tokens "
                f"({image_features.shape[0]} images x {image_features.shape[1]} tokens)"
            )
        return mask

    def embed_inputs(
        self, input_ids: torch.Tensor, image_features: torch.Tensor | None
    ) -> torch.Tensor:
        """(B, L) ids with expanded image positions -> (B, L, H) LLM input embeddings."""
        embed_tokens = self.language_model.get_input_embeddings()
        if image_features is None:
            if (input_ids == self.config.image_token_index).any():
                raise ValueError("input_ids hold image positions but no image was given")
            return embed_tokens(input_ids)
        mask = self.get_placeholder_mask(input_ids, image_features)
        inputs_embeds = embed_tokens(input_ids.masked_fill(mask, 0))  # the sentinel is no id
        return inputs_embeds.masked_scatter(
            mask.unsqueeze(-1), image_features.to(inputs_embeds.dtype)
        )

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        *,
        pixel_values: torch.Tensor | None = None,
        image_features: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        cache: Cache | None = None,
        use_cache: bool = False,
        logits_to_keep: int = 0,
    ) -> FlorenceVLOutput:
        """One LLM pass. Pass `pixel_values` (one image per row) or precomputed
        `image_features` (B, T, H); `position_ids` default to the left-padding-aware ones."""
        if pixel_values is not None and image_features is not None:
            raise ValueError("pass pixel_values or image_features, not both")
        if pixel_values is not None:
            image_features = self.get_image_features(pixel_values)
        inputs_embeds = self.embed_inputs(input_ids, image_features)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if position_ids is None:
            position_ids = positions_from_mask(attention_mask)
        logits, cache = self._language_model(
            inputs_embeds, attention_mask, position_ids, cache, use_cache, logits_to_keep
        )
        return FlorenceVLOutput(
            logits=logits,
            cache=cache,
            image_features=image_features if pixel_values is not None else None,
        )

    def _language_model(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: Cache | None,
        use_cache: bool,
        logits_to_keep: int,
    ) -> tuple[torch.Tensor, Cache | None]:
        """The LLM's logits and cache, the cache passed under the name this transformers
        release uses."""
        outputs = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **{self._cache_keyword: cache},
        )
        return outputs.logits, getattr(outputs, self._cache_keyword)

    @torch.inference_mode()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        image_features: torch.Tensor | None,
        stop_token_ids: list[int],
        pad_token_id: int,
        max_new_tokens: int = 64,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
        cache: Cache | None = None,
        decode: DecodeMode = "auto",
    ) -> GenerationOutput:
        """Greedy or nucleus sampling from left-padded prompts until every row hit a stop token.

        `cache`, when given, already holds a prefix of every row (see `prefill_prefix`); then
        `input_ids` is the rest of each prompt and `attention_mask` covers prefix and rest.
        `decode` picks how each new token is fed back (`model/decode_steps.py`); the answers
        are the same whichever it is.
        Our own prefill/decode loop rather than `language_model.generate(inputs_embeds=...)`:
        transformers only accepts `inputs_embeds` for the first step, which breaks the no-cache
        path and hides the position ids that left padding needs.
        """
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if cache is not None and not use_cache:
            raise ValueError("a prefilled cache needs use_cache=True")
        device = input_ids.device
        attention = self.language_model.config._attn_implementation
        mode = resolve_decode_mode(decode, device, attention)
        if not use_cache or max_new_tokens == 1:  # no step to feed a static cache
            mode = "dynamic"

        # Prefill: the prompt (or what follows the cached prefix), image tokens spliced in.
        inputs_embeds = self.embed_inputs(input_ids, image_features)  # (B, L, H)
        position_ids = positions_from_mask(attention_mask)[:, -input_ids.shape[1] :]  # (B, L)
        if use_cache and cache is None:
            cache = DynamicCache(config=self.language_model.config)
        logits = self._step(inputs_embeds, attention_mask, position_ids, cache)
        embed_tokens = self.language_model.get_input_embeddings()
        steps: DynamicSteps | StaticSteps
        if mode == "dynamic":
            steps = DynamicSteps(
                self._step, embed_tokens, inputs_embeds, attention_mask, position_ids, cache
            )
        else:
            assert cache is not None
            steps = StaticSteps(
                self._step, self.language_model, cache, attention_mask, position_ids[:, -1:],
                max_new_tokens,
            )  # fmt: skip
            if mode == "graph":
                steps.capture()
        return _decode_loop(
            logits, steps, stop_token_ids, pad_token_id, max_new_tokens,
            lambda step_logits: _choose(step_logits, do_sample, temperature, top_p, generator),
        )  # fmt: skip

    @torch.inference_mode()
    def prefill_prefix(
        self, input_ids: torch.Tensor, image_features: torch.Tensor | None, rows: torch.Tensor
    ) -> Cache:
        """KV cache of a prompt prefix shared by several rows, each prefix computed once.

        `input_ids` (U, P) are U unpadded prefixes of equal length (e.g. the template's system
        and user text plus one page's image tokens), `image_features` (U, T, H) their images;
        `rows` (B,) says which prefix each generation row starts with. Questions about one page
        then pay for the ~600-token image prefix once instead of once each.
        """
        cache = DynamicCache(config=self.language_model.config)
        attention_mask = torch.ones_like(input_ids)
        inputs_embeds = self.embed_inputs(input_ids, image_features)  # (U, P, H)
        self._step(inputs_embeds, attention_mask, positions_from_mask(attention_mask), cache)
        cache.batch_select_indices(rows)  # (U, ...) -> (B, ...)
        return cache

    def _step(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: Cache | None,
    ) -> torch.Tensor:
        """One LLM call; returns the last position's logits (B, V)."""
        logits, _ = self._language_model(
            inputs_embeds, attention_mask, position_ids, cache, cache is not None, 1
        )
        return logits[:, -1]


def cache_keyword(language_model: nn.Module) -> str:
    """The keyword a transformers LLM takes its KV cache under: `cache` in recent releases,
    `past_key_values` in earlier 5.x ones (5.17, as preinstalled on GPU images). A cache passed
    under the other name is swallowed by `**kwargs` without a word, and every step after the
    first then sees no context."""
    parameters = inspect.signature(language_model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Left padding: each row's first real token gets position 0 (padding positions get 0)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def _decode_loop(
    logits: torch.Tensor,
    steps: Callable[[torch.Tensor], torch.Tensor],
    stop_token_ids: list[int],
    pad_token_id: int,
    max_new_tokens: int,
    choose: Callable[[torch.Tensor], torch.Tensor],
) -> GenerationOutput:
    """Choose from the last logits, feed the choice back, until every row stopped.

    Whether every row stopped is a question to the device that waits for all queued work,
    so it is asked every `stop_check_interval` tokens and the host can queue steps ahead.
    The few steps a batch may run after its last row stopped yield padding only."""
    batch_size, device = logits.shape[0], logits.device
    check_every = stop_check_interval(device)
    stops = torch.tensor(stop_token_ids, device=device)
    tokens, probs = [], []
    finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    for step in range(max_new_tokens):
        next_tokens = choose(logits)  # (B,)
        chosen_probs = logits.float().softmax(-1).gather(-1, next_tokens[:, None])[:, 0]
        next_tokens = next_tokens.masked_fill(finished, pad_token_id)
        tokens.append(next_tokens)
        probs.append(chosen_probs.masked_fill(finished, 0.0))
        lengths += (~finished).long()
        finished |= torch.isin(next_tokens, stops)
        last = step + 1 == max_new_tokens
        if last or ((step + 1) % check_every == 0 and bool(finished.all())):
            break
        logits = steps(next_tokens)
    return GenerationOutput(
        sequences=torch.stack(tokens, dim=1),
        token_probs=torch.stack(probs, dim=1),
        lengths=lengths,
    )


def stop_check_interval(device: torch.device) -> int:
    """Every token where asking costs nothing (a CPU), every `STOP_CHECK_EVERY` on a GPU."""
    return STOP_CHECK_EVERY if device.type == "cuda" else 1


def _choose(
    logits: torch.Tensor,
    do_sample: bool,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """(B, V) logits -> (B,) token ids: argmax, or a draw from the top-p nucleus."""
    if not do_sample:
        return logits.argmax(dim=-1)
    if temperature <= 0 or not 0 < top_p <= 1:
        raise ValueError(
            f"sampling needs temperature > 0 and 0 < top_p <= 1, got {temperature}, {top_p}"
        )
    probs = (logits.float() / temperature).softmax(dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (always at least the top token).
        outside = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        sorted_probs = sorted_probs.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]
