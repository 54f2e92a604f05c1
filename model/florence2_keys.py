"""Original (remote-code) Florence-2 layout -> transformers-native layout: config and weight names.

The Florence-VL checkpoints store the whole Florence-2 under ``model.vision_tower.vision_tower.``
with the names of Microsoft's remote code (``microsoft/Florence-2-large``). We run transformers'
native ``Florence2ForConditionalGeneration`` instead, so names, one transposed tensor and the tied
BART embedding have to be translated. Keys here are relative to the Florence-2 root: the caller
strips or adds ``model.vision_tower.vision_tower.`` (original) and ``florence2.`` (our tower).

The rename table follows transformers' own conversion script
(``models/florence2/convert_florence2_original_pytorch_to_hf.py``); it is written as one list of
paired templates so that both directions come from the same source and stay exact inverses.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from transformers import Florence2Config

logger = logging.getLogger(__name__)

# Placeholders usable in the templates below, with what they may match.
_PLACEHOLDERS = {
    "stage": r"\d+",
    "block": r"\d+",
    "layer": r"\d+",
    "kind": r"spatial_block|channel_block",
    "conv": r"conv1|conv2",
    "linear": r"qkv|proj",
    "fc": r"fc1|fc2",
    "param": r"weight|bias",
    "axis": r"row|column",
    "stack": r"encoder|decoder",
    "table": r"embed_tokens|embed_positions",
    "proj": r"q_proj|k_proj|v_proj|out_proj",
    "attn": r"self_attn|encoder_attn",
    "norm": r"self_attn_layer_norm|encoder_attn_layer_norm|final_layer_norm",
}

_DAVIT = "vision_tower.blocks.{stage}.{block}"
_NATIVE_DAVIT = "model.vision_tower.blocks.{stage}.{block}"
_BART = "language_model.model"
_NATIVE_BART = "model.language_model"
_PROJECTOR = "model.multi_modal_projector"

# (original template, native template); every placeholder appears on both sides.
_RULES: list[tuple[str, str]] = [
    # DaViT patch embeddings
    ("vision_tower.convs.{stage}.proj.{param}", "model.vision_tower.convs.{stage}.conv.{param}"),
    ("vision_tower.convs.{stage}.norm.{param}", "model.vision_tower.convs.{stage}.norm.{param}"),
    # DaViT blocks: the original wraps sub-layers in PreNorm/Residual (`.fn`, `.norm`, `.dw`)
    (_DAVIT + ".{kind}.{conv}.fn.dw.{param}", _NATIVE_DAVIT + ".{kind}.{conv}.{param}"),
    (
        _DAVIT + ".spatial_block.window_attn.norm.{param}",
        _NATIVE_DAVIT + ".spatial_block.norm1.{param}",
    ),
    (
        _DAVIT + ".channel_block.channel_attn.norm.{param}",
        _NATIVE_DAVIT + ".channel_block.norm1.{param}",
    ),
    (
        _DAVIT + ".spatial_block.window_attn.fn.{linear}.{param}",
        _NATIVE_DAVIT + ".spatial_block.window_attn.{linear}.{param}",
    ),
    (
        _DAVIT + ".channel_block.channel_attn.fn.{linear}.{param}",
        _NATIVE_DAVIT + ".channel_block.channel_attn.{linear}.{param}",
    ),
    (_DAVIT + ".{kind}.ffn.norm.{param}", _NATIVE_DAVIT + ".{kind}.norm2.{param}"),
    (_DAVIT + ".{kind}.ffn.fn.net.{fc}.{param}", _NATIVE_DAVIT + ".{kind}.ffn.{fc}.{param}"),
    # Image projection, its norm and the position embeddings live in the native projector
    ("image_projection", _PROJECTOR + ".image_projection.weight"),
    ("image_proj_norm.{param}", _PROJECTOR + ".image_proj_norm.{param}"),
    (
        "image_pos_embed.{axis}_embeddings.weight",
        _PROJECTOR + ".image_position_embed.{axis}_embeddings.weight",
    ),
    (
        "visual_temporal_embed.pos_idx_to_embed",
        _PROJECTOR + ".visual_temporal_embed.pos_idx_to_embed",
    ),
    # BART
    (_BART + ".shared.weight", _NATIVE_BART + ".shared.weight"),
    (_BART + ".{stack}.{table}.weight", _NATIVE_BART + ".{stack}.{table}.weight"),
    (
        _BART + ".{stack}.layernorm_embedding.{param}",
        _NATIVE_BART + ".{stack}.layernorm_embedding.{param}",
    ),
    (
        _BART + ".{stack}.layers.{layer}.{attn}.{proj}.{param}",
        _NATIVE_BART + ".{stack}.layers.{layer}.{attn}.{proj}.{param}",
    ),
    (
        _BART + ".{stack}.layers.{layer}.{norm}.{param}",
        _NATIVE_BART + ".{stack}.layers.{layer}.{norm}.{param}",
    ),
    (
        _BART + ".{stack}.layers.{layer}.{fc}.{param}",
        _NATIVE_BART + ".{stack}.layers.{layer}.{fc}.{param}",
    ),
    ("language_model.lm_head.weight", "lm_head.weight"),
]

# The one tensor stored transposed: a raw (C_davit, C_proj) Parameter used as `x @ W` in the
# original, an nn.Linear weight (C_proj, C_davit) in the native model.
_TRANSPOSED_ORIGINAL_KEY = "image_projection"

# BART's logits bias buffer. It is registered as zeros, is not trainable and the native model has
# no such buffer (its lm_head has no bias), so it is dropped on load after checking it is zero.
FINAL_LOGITS_BIAS_KEY = "language_model.final_logits_bias"

# The tied BART token embedding: the released checkpoints store it under all four names.
TIED_EMBEDDING_KEYS: dict[str, str] = {
    _BART + ".shared.weight": _NATIVE_BART + ".shared.weight",
    _BART + ".encoder.embed_tokens.weight": _NATIVE_BART + ".encoder.embed_tokens.weight",
    _BART + ".decoder.embed_tokens.weight": _NATIVE_BART + ".decoder.embed_tokens.weight",
    "language_model.lm_head.weight": "lm_head.weight",
}


def _compile(template: str) -> re.Pattern[str]:
    pattern = re.escape(template)
    for name, sub_pattern in _PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{sub_pattern})")
    return re.compile(pattern)


_FORWARD = [(_compile(original), native) for original, native in _RULES]
_BACKWARD = [(_compile(native), original) for original, native in _RULES]


def _translate(key: str, rules: list[tuple[re.Pattern[str], str]], layout: str) -> str:
    for pattern, template in rules:
        match = pattern.fullmatch(key)
        if match is not None:
            return template.format(**match.groupdict())
    raise KeyError(f"not a known {layout} Florence-2 weight name: {key!r}")


def original_to_native(key: str) -> str:
    """Native ``Florence2ForConditionalGeneration`` name of an original remote-code name.

    Raises KeyError naming ``key`` when it is unknown, including ``final_logits_bias``, which has
    no native counterpart (see ``convert_original_state_dict``).
    """
    return _translate(key, _FORWARD, "original")


def native_to_original(key: str) -> str:
    """Original remote-code name of a native name; the exact inverse of ``original_to_native``."""
    return _translate(key, _BACKWARD, "native")


def convert_original_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Original Florence-2 state dict -> one loadable into ``Florence2ForConditionalGeneration``.

    Renames every key, transposes ``image_projection``, drops the zero ``final_logits_bias`` and
    fills in all four native aliases of the tied embedding from whichever original aliases are
    present (safetensors files often keep one). Meta tensors are renamed without value checks.
    """
    converted: dict[str, Tensor] = {}
    for key, tensor in state_dict.items():
        if key == FINAL_LOGITS_BIAS_KEY:
            _check_zero_logits_bias(tensor)
            continue
        if key == _TRANSPOSED_ORIGINAL_KEY:
            tensor = tensor.t().contiguous()  # (C_davit, C_proj) -> (C_proj, C_davit)
        converted[original_to_native(key)] = tensor
    _fill_tied_aliases(converted, list(TIED_EMBEDDING_KEYS.values()))
    return converted


def to_original_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Native state dict -> the original layout, as the released checkpoints store it.

    Emits the four tied-embedding aliases and a zero ``final_logits_bias`` of shape (1, vocab).
    """
    original: dict[str, Tensor] = {}
    for key, tensor in state_dict.items():
        original_key = native_to_original(key)
        if original_key == _TRANSPOSED_ORIGINAL_KEY:
            tensor = tensor.t().contiguous()  # (C_proj, C_davit) -> (C_davit, C_proj)
        original[original_key] = tensor
    embedding = _fill_tied_aliases(original, list(TIED_EMBEDDING_KEYS))
    if embedding is not None:
        vocab_size = embedding.shape[0]
        original[FINAL_LOGITS_BIAS_KEY] = torch.zeros(
            (1, vocab_size), dtype=embedding.dtype, device=embedding.device
        )
    return original


def _check_zero_logits_bias(tensor: Tensor) -> None:
    if tensor.is_meta:
        return
    largest = tensor.detach().abs().max().item() if tensor.numel() else 0.0
    if largest != 0.0:
        raise ValueError(
            f"{FINAL_LOGITS_BIAS_KEY} is non-zero (max |value| {largest}); the native Florence-2 "
            "lm_head has no bias, so this checkpoint cannot be loaded faithfully"
        )


def _fill_tied_aliases(state_dict: dict[str, Tensor], aliases: list[str]) -> Tensor | None:
    """Check that the present aliases of the tied embedding agree and set the missing ones."""
    present = [key for key in aliases if key in state_dict]
    if not present:
        return None
    first = state_dict[present[0]]
    for key in present[1:]:
        other = state_dict[key]
        if other.shape != first.shape:
            raise ValueError(
                f"tied embedding aliases differ in shape: {present[0]} {tuple(first.shape)} "
                f"vs {key} {tuple(other.shape)}"
            )
        if not (first.is_meta or other.is_meta) and not torch.equal(first, other):
            raise ValueError(f"tied embedding aliases hold different values: {present[0]} vs {key}")
    for key in aliases:
        state_dict.setdefault(key, first)
    return first


def florence2_config_from_original(original: Mapping[str, Any]) -> Florence2Config:
    """Native ``Florence2Config`` from an original remote-code Florence-2 ``config.json`` dict.

    The native model hard-codes the original's feature path (learned 2-D position embedding,
    cosine temporal embedding, spatial + temporal average pooling), so other settings raise.
    The vocabulary keeps the checkpoint's size (51289): the native ``<image>`` placeholder token
    (``image_token_id``) is never used here because we build the encoder inputs ourselves.
    """
    vision = original["vision_config"]
    expected = {
        "image_feature_source": ["spatial_avg_pool", "temporal_avg_pool"],
        "visual_temporal_embedding.type": "COSINE",
        "image_pos_embed.type": "learned_abs_2d",
    }
    found = {
        "image_feature_source": list(vision["image_feature_source"]),
        "visual_temporal_embedding.type": vision["visual_temporal_embedding"]["type"],
        "image_pos_embed.type": vision["image_pos_embed"]["type"],
    }
    for name, value in expected.items():
        if found[name] != value:
            raise ValueError(
                f"unsupported Florence-2 vision_config.{name}: {found[name]!r}, expected {value!r}"
            )
    vision_config = {
        "embed_dim": list(vision["dim_embed"]),
        "depths": list(vision["depths"]),
        "num_heads": list(vision["num_heads"]),
        "num_groups": list(vision["num_groups"]),
        "patch_size": list(vision["patch_size"]),
        "patch_stride": list(vision["patch_stride"]),
        "patch_padding": list(vision["patch_padding"]),
        "patch_prenorm": list(vision["patch_prenorm"]),
        "window_size": vision["window_size"],
        "drop_path_rate": vision["drop_path_rate"],
        "projection_dim": vision["projection_dim"],
        "max_temporal_embeddings": vision["visual_temporal_embedding"]["max_temporal_embeddings"],
        "max_position_embeddings": vision["image_pos_embed"]["max_pos_embeddings"],
    }
    text_config = {**original["text_config"], "model_type": "bart"}
    return Florence2Config(
        vision_config=vision_config,
        text_config=text_config,
        image_token_id=text_config["vocab_size"],
    )


# Florence-2-large's original config, the size of the tower inside both Florence-VL checkpoints
# (`microsoft/Florence-2-large`); fields the native model does not read are left out.
FLORENCE2_LARGE_ORIGINAL_CONFIG: dict[str, Any] = {
    "vision_config": {
        "dim_embed": [256, 512, 1024, 2048],
        "depths": [1, 1, 9, 1],
        "num_heads": [8, 16, 32, 64],
        "num_groups": [8, 16, 32, 64],
        "patch_size": [7, 3, 3, 3],
        "patch_stride": [4, 2, 2, 2],
        "patch_padding": [3, 1, 1, 1],
        "patch_prenorm": [False, True, True, True],
        "window_size": 12,
        "drop_path_rate": 0.1,
        "projection_dim": 1024,
        "visual_temporal_embedding": {"type": "COSINE", "max_temporal_embeddings": 100},
        "image_pos_embed": {"type": "learned_abs_2d", "max_pos_embeddings": 50},
        "image_feature_source": ["spatial_avg_pool", "temporal_avg_pool"],
    },
    "text_config": {
        "vocab_size": 51289,
        "d_model": 1024,
        "encoder_layers": 12,
        "decoder_layers": 12,
        "encoder_attention_heads": 16,
        "decoder_attention_heads": 16,
        "encoder_ffn_dim": 4096,
        "decoder_ffn_dim": 4096,
        "max_position_embeddings": 1024,
        "activation_function": "gelu",
        "scale_embedding": False,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "decoder_start_token_id": 2,
        "forced_bos_token_id": 0,
        "forced_eos_token_id": 2,
    },
}
