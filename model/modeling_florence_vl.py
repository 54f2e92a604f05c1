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

import logging
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoModelForCausalLM, DynamicCache, PreTrainedTokenizerBase
from transformers.cache_utils import Cache

from model.config import FlorenceVLConfig
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
        outputs = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
        )
        return FlorenceVLOutput(
            logits=outputs.logits,
            cache=outputs.cache,
            image_features=image_features if pixel_values is not None else None,
        )

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
    ) -> GenerationOutput:
        """Greedy or nucleus sampling from left-padded prompts until every row hit a stop token.

        `cache`, when given, already holds a prefix of every row (see `prefill_prefix`); then
        `input_ids` is the rest of each prompt and `attention_mask` covers prefix and rest.
        Our own prefill/decode loop rather than `language_model.generate(inputs_embeds=...)`:
        transformers only accepts `inputs_embeds` for the first step, which breaks the no-cache
        path and hides the position ids that left padding needs.
        """
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if cache is not None and not use_cache:
            raise ValueError("a prefilled cache needs use_cache=True")
        batch_size = input_ids.shape[0]
        device = input_ids.device
        embed_tokens = self.language_model.get_input_embeddings()
        stops = torch.tensor(stop_token_ids, device=device)

        # Prefill: the prompt (or what follows the cached prefix), image tokens spliced in.
        inputs_embeds = self.embed_inputs(input_ids, image_features)  # (B, L, H)
        position_ids = positions_from_mask(attention_mask)[:, -input_ids.shape[1] :]  # (B, L)
        if use_cache and cache is None:
            cache = DynamicCache(config=self.language_model.config)
        logits = self._step(inputs_embeds, attention_mask, position_ids, cache)

        tokens, probs = [], []
        finished = torch.zeros(batch_size, dtype=torch.bool, device=device)
        lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
        for _ in range(max_new_tokens):
            # Decode: choose from the last position's logits, then feed the choice back.
            next_tokens = _choose(logits, do_sample, temperature, top_p, generator)  # (B,)
            chosen_probs = logits.float().softmax(-1).gather(-1, next_tokens[:, None])[:, 0]
            next_tokens = next_tokens.masked_fill(finished, pad_token_id)
            tokens.append(next_tokens)
            probs.append(chosen_probs.masked_fill(finished, 0.0))
            lengths += (~finished).long()
            finished |= torch.isin(next_tokens, stops)
            if bool(finished.all()):
                break
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(batch_size, 1)], 1)
            next_position = position_ids[:, -1:] + 1  # (B, 1)
            position_ids = torch.cat([position_ids, next_position], dim=1)
            next_embeds = embed_tokens(next_tokens[:, None])  # (B, 1, H)
            if use_cache:
                logits = self._step(next_embeds, attention_mask, next_position, cache)
            else:
                inputs_embeds = torch.cat([inputs_embeds, next_embeds], dim=1)
                logits = self._step(inputs_embeds, attention_mask, position_ids, None)
        return GenerationOutput(
            sequences=torch.stack(tokens, dim=1),
            token_probs=torch.stack(probs, dim=1),
            lengths=lengths,
        )

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
        outputs = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=cache is not None,
            logits_to_keep=1,
        )
        return outputs.logits[:, -1]


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Left padding: each row's first real token gets position 0 (padding positions get 0)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


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
