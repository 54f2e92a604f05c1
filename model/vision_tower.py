"""Florence-2 as Florence-VL's generative vision encoder: V and the prompt-conditioned V'.

Florence-VL (arXiv 2412.04424) reads two kinds of features from Florence-2:
- V: DaViT grid features after Florence-2's image projection and LayerNorm (the original
  ``Florence2ForConditionalGeneration._encode_image``), the pooled token first then 576 grid tokens;
- V'_p: the BART encoder's last hidden state at the image positions when the encoder input is
  ``[image tokens, <s> prompt </s>]``, one per task prompt (caption, OCR, regions).

The reference computes each V'_p with a full Florence-2 pass (DaViT, encoder and a discarded
one-token decoder step). ``FlorenceVisionTower.forward`` gives the same numbers with DaViT run
once per image, all prompts in one encoder batch and no decoder; ``forward_naive`` keeps the
reference's cost for tests and benchmarks. Built on transformers' native Florence-2 modules,
whose ``get_image_features`` matches the original ``_encode_image`` (checked against the
reference outputs in tests/model/test_vision_tower.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from transformers import (
    BartConfig,
    Florence2Config,
    Florence2ForConditionalGeneration,
    Florence2VisionConfig,
)

logger = logging.getLogger(__name__)

# Florence-VL's three task prompts in its channel order (the natural-language forms of
# Florence-2's <MORE_DETAILED_CAPTION>, <OCR> and <DENSE_REGION_CAPTION>).
FLORENCE_VL_PROMPTS: dict[str, str] = {
    "caption": "Describe in detail what is shown in the image.",
    "ocr": "What is the text in the image?",
    "regions": "Locate the objects in the image, with their descriptions.",
}


def embed_prompt_tokens(florence2: Florence2ForConditionalGeneration, input_ids: Tensor) -> Tensor:
    """(..., L) ids -> (..., L, C) rows of BART's shared table, as the original merges them.

    The original looks prompts up in the raw shared embedding; the native table module would
    also multiply by ``embed_scale`` (1.0 for Florence-2, whose ``scale_embedding`` is False).
    """
    embeddings = florence2.get_input_embeddings()  # typed as any nn.Module
    if not isinstance(embeddings, nn.Embedding):
        raise TypeError(
            f"expected Florence-2's shared nn.Embedding, got {type(embeddings).__name__}"
        )
    return F.embedding(input_ids, embeddings.weight)


def florence2_text_config(config: Florence2Config) -> BartConfig:
    """Florence-2's BART config. ``Florence2Config`` types its sub-configs as
    ``dict | PreTrainedConfig | None``; after its ``__post_init__`` this one is a ``BartConfig``."""
    text_config = config.text_config
    if not isinstance(text_config, BartConfig):
        raise TypeError(f"expected a BartConfig text_config, got {type(text_config).__name__}")
    return text_config


def florence2_vision_config(config: Florence2Config) -> Florence2VisionConfig:
    """Florence-2's DaViT config, narrowed from ``dict | PreTrainedConfig | None`` as above."""
    vision_config = config.vision_config
    if not isinstance(vision_config, Florence2VisionConfig):
        raise TypeError(
            f"expected a Florence2VisionConfig vision_config, got {type(vision_config).__name__}"
        )
    return vision_config


def _required(value: int | None, name: str) -> int:
    """A BartConfig field that transformers types as optional but Florence-2 always sets."""
    if value is None:
        raise ValueError(f"Florence-2's text config has no {name}")
    return value


@dataclass
class VisionFeatures:
    """Florence-VL's vision features for a batch of images.

    low_level: (B, N, C) V, N = 577 (pooled token first) or 576 (grid only).
    prompts: (B, P, N, C) V'_p at the same N image positions, prompts in the tower's order.
    """

    low_level: Tensor
    prompts: Tensor


class FlorenceVisionTower(nn.Module):
    """Native Florence-2 (decoder included) plus the fused extraction of V and V'.

    Args:
        config: native Florence-2 config (see ``florence2_config_from_original``).
        include_pooled_token: return 577 tokens (pooled token first) or only the 576 grid tokens.
            The encoder always sees all 577 image tokens, as in the reference; this only selects
            which positions are returned.
        mask_prompt_padding: the reference passes NO encoder attention mask, so image tokens also
            attend to the right-padding ``<pad>`` tokens of shorter prompts. False (the default)
            reproduces that; True masks padding out, which changes V' for padded prompts.
    """

    # Non-persistent buffers, registered in __init__; declared so their type is Tensor rather
    # than nn.Module.__getattr__'s Tensor | Module.
    prompt_input_ids: Tensor
    prompt_attention_mask: Tensor

    def __init__(
        self,
        config: Florence2Config,
        *,
        include_pooled_token: bool = True,
        mask_prompt_padding: bool = False,
    ) -> None:
        super().__init__()
        projection_dim = florence2_vision_config(config).projection_dim
        d_model = florence2_text_config(config).d_model
        if projection_dim != d_model:
            raise ValueError(
                f"image features feed the BART encoder: vision projection_dim ({projection_dim}) "
                f"must equal text d_model ({d_model})"
            )
        self.config = config
        self.include_pooled_token = include_pooled_token
        self.mask_prompt_padding = mask_prompt_padding
        self.florence2 = Florence2ForConditionalGeneration(config)
        self.prompt_names: tuple[str, ...] = ()
        no_prompts = torch.empty(0, 0, dtype=torch.long)
        self.register_buffer("prompt_input_ids", no_prompts, persistent=False)  # (P, L)
        self.register_buffer("prompt_attention_mask", no_prompts.clone(), persistent=False)

    @property
    def hidden_size(self) -> int:
        """Channels C of V and of each V'_p (Florence-2's projection dim = BART d_model)."""
        return _required(florence2_text_config(self.config).d_model, "d_model")

    def set_prompts(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        names: Sequence[str] = tuple(FLORENCE_VL_PROMPTS),
    ) -> None:
        """Store the tokenized prompts (P, L), ``<s> prompt </s>`` right-padded with ``<pad>``.

        Stored as non-persistent buffers: they follow ``.to(device)`` but are not weights.
        Without ``attention_mask`` the mask is derived from the pad token id; it is only read
        when ``mask_prompt_padding`` is set.
        """
        if input_ids.dim() != 2:
            raise ValueError(f"prompt input_ids must be (P, L), got shape {tuple(input_ids.shape)}")
        if len(names) != input_ids.shape[0]:
            raise ValueError(
                f"got {len(names)} prompt names {tuple(names)} for {input_ids.shape[0]} prompts"
            )
        if attention_mask is None:
            pad_token_id = _required(
                florence2_text_config(self.config).pad_token_id, "pad_token_id"
            )
            attention_mask = (input_ids != pad_token_id).long()
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"prompt attention_mask shape {tuple(attention_mask.shape)} != "
                f"input_ids shape {tuple(input_ids.shape)}"
            )
        device = self.prompt_input_ids.device
        self.prompt_input_ids = input_ids.to(device=device, dtype=torch.long)
        self.prompt_attention_mask = attention_mask.to(device=device, dtype=torch.long)
        self.prompt_names = tuple(names)

    def davit_features(self, pixel_values: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, H/32 * W/32, C_davit) last-stage DaViT grid, row-major."""
        grid = self.florence2.model.vision_tower(pixel_values).last_hidden_state  # (B, C, h, w)
        return grid.flatten(2).transpose(1, 2)

    def image_features(self, pixel_values: Tensor) -> Tensor:
        """(B, 3, H, W) -> (B, 1 + h*w, C): the original ``_encode_image``, pooled token first."""
        return self.florence2.model.get_image_features(pixel_values).pooler_output

    def forward(self, pixel_values: Tensor) -> VisionFeatures:
        """V and all V'_p with DaViT once per image and all B*P sequences in one encoder batch."""
        input_ids, attention_mask = self._prompts()
        image_features = self.image_features(pixel_values)  # (B, N, C)
        batch_size, num_image_tokens, channels = image_features.shape
        num_prompts, prompt_length = input_ids.shape
        prompt_embeds = self._embed_prompts(input_ids, image_features.dtype)  # (P, L, C)
        inputs_embeds = torch.cat(
            [
                image_features[:, None].expand(batch_size, num_prompts, num_image_tokens, channels),
                prompt_embeds[None].expand(batch_size, num_prompts, prompt_length, channels),
            ],
            dim=2,
        ).reshape(batch_size * num_prompts, num_image_tokens + prompt_length, channels)
        encoder_mask = self._encoder_mask(attention_mask, num_image_tokens, batch_size)
        encoder = self.florence2.model.language_model.encoder
        outputs = encoder(inputs_embeds=inputs_embeds, attention_mask=encoder_mask)
        hidden_states = outputs.last_hidden_state.view(batch_size, num_prompts, -1, channels)
        return self._select_tokens(image_features, hidden_states[:, :, :num_image_tokens])

    def forward_naive(self, pixel_values: Tensor) -> VisionFeatures:
        """Reference cost: per prompt a full Florence-2 pass (DaViT, encoder, one decoder step)."""
        input_ids, attention_mask = self._prompts()
        passes = [
            self._full_pass(pixel_values, input_ids[index], attention_mask[index])
            for index in range(input_ids.shape[0])
        ]
        image_features = passes[0][0]  # (B, N, C), identical in every pass
        prompt_features = torch.stack([hidden_states for _, hidden_states in passes], dim=1)
        return self._select_tokens(image_features, prompt_features)

    def _full_pass(
        self, pixel_values: Tensor, prompt_ids: Tensor, prompt_mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """One prompt (L,) through DaViT, the encoder and a discarded one-token decoder step."""
        image_features = self.image_features(pixel_values)  # (B, N, C)
        batch_size, num_image_tokens, _ = image_features.shape
        prompt_ids = prompt_ids[None].expand(batch_size, -1)  # (B, L)
        prompt_embeds = self._embed_prompts(prompt_ids, image_features.dtype)  # (B, L, C)
        inputs_embeds = torch.cat([image_features, prompt_embeds], dim=1)  # (B, N + L, C)
        start_token_id = florence2_text_config(self.config).decoder_start_token_id
        decoder_input_ids = torch.full(
            (batch_size, 1),
            _required(start_token_id, "decoder_start_token_id"),
            device=inputs_embeds.device,
        )
        outputs = self.florence2.model.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=self._encoder_mask(prompt_mask[None], num_image_tokens, batch_size),
            decoder_input_ids=decoder_input_ids,
            use_cache=False,
        )
        return image_features, outputs.encoder_last_hidden_state[:, :num_image_tokens]

    def _prompts(self) -> tuple[Tensor, Tensor]:
        if self.prompt_input_ids.numel() == 0:
            raise ValueError("no prompts set; call set_prompts first")
        return self.prompt_input_ids, self.prompt_attention_mask

    def _embed_prompts(self, input_ids: Tensor, dtype: torch.dtype) -> Tensor:
        return embed_prompt_tokens(self.florence2, input_ids).to(dtype)

    def _encoder_mask(
        self, prompt_mask: Tensor, num_image_tokens: int, batch_size: int
    ) -> Tensor | None:
        """(B * P, N + L) mask over [image, prompt] when masking padding, else None (faithful)."""
        if not self.mask_prompt_padding:
            return None
        image_mask = prompt_mask.new_ones(prompt_mask.shape[0], num_image_tokens)
        return torch.cat([image_mask, prompt_mask], dim=1).repeat(batch_size, 1)

    def _select_tokens(self, image_features: Tensor, prompt_features: Tensor) -> VisionFeatures:
        # image_features (B, N, C), prompt_features (B, P, N, C); position 0 is the pooled token
        if not self.include_pooled_token:
            image_features = image_features[:, 1:]
            prompt_features = prompt_features[:, :, 1:]
        return VisionFeatures(low_level=image_features, prompts=prompt_features)
