"""Original <-> native Florence-2 weight names, on the tiny reference and the released key lists."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import Florence2ForConditionalGeneration

from model.florence2_keys import (
    FINAL_LOGITS_BIAS_KEY,
    FLORENCE2_LARGE_ORIGINAL_CONFIG,
    TIED_EMBEDDING_KEYS,
    convert_original_state_dict,
    florence2_config_from_original,
    native_to_original,
    original_to_native,
    to_original_state_dict,
)

CHECKPOINT_PREFIX = "model.vision_tower.vision_tower."


def _native_model(original_config: dict[str, Any]) -> Florence2ForConditionalGeneration:
    with torch.device("meta"):
        return Florence2ForConditionalGeneration(florence2_config_from_original(original_config))


def _shapes(state_dict: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(tensor.shape) for key, tensor in state_dict.items()}


def test_tiny_reference_fills_every_native_tensor(
    tiny_original_config: dict[str, Any], tiny_original_state_dict: dict[str, torch.Tensor]
) -> None:
    expected = _shapes(_native_model(tiny_original_config).state_dict())
    converted = convert_original_state_dict(tiny_original_state_dict)
    assert _shapes(converted) == expected


def test_tiny_reference_loads_strictly(tiny_tower) -> None:
    florence2 = tiny_tower.florence2
    shared = florence2.model.language_model.shared.weight
    assert florence2.lm_head.weight.data_ptr() == shared.data_ptr()
    assert (
        florence2.model.language_model.encoder.embed_tokens.weight.data_ptr() == shared.data_ptr()
    )


def test_round_trip_is_exact(tiny_original_state_dict: dict[str, torch.Tensor]) -> None:
    native = convert_original_state_dict(tiny_original_state_dict)
    original = to_original_state_dict(native)
    # The file stores the tied embedding once; the released checkpoints store all four aliases.
    shared = tiny_original_state_dict["language_model.model.shared.weight"]
    expected = {**tiny_original_state_dict, **dict.fromkeys(TIED_EMBEDDING_KEYS, shared)}
    assert original.keys() == expected.keys()
    for key, tensor in expected.items():
        assert torch.equal(original[key], tensor), key
    again = convert_original_state_dict(original)
    assert again.keys() == native.keys()
    assert all(torch.equal(again[key], native[key]) for key in native)


def test_image_projection_is_transposed(tiny_original_state_dict: dict[str, torch.Tensor]) -> None:
    native = convert_original_state_dict(tiny_original_state_dict)
    weight = native["model.multi_modal_projector.image_projection.weight"]
    assert torch.equal(weight, tiny_original_state_dict["image_projection"].t())


def test_name_maps_are_inverse(tiny_original_state_dict: dict[str, torch.Tensor]) -> None:
    for key in tiny_original_state_dict:
        if key != FINAL_LOGITS_BIAS_KEY:
            assert native_to_original(original_to_native(key)) == key


@pytest.mark.parametrize(
    "key",
    [
        "vision_tower.convs.0.projection.weight",
        "vision_tower.blocks.0.0.spatial_block.window_attn.qkv.weight",
        "language_model.model.encoder.layers.0.self_attn.kv_proj.weight",
        FINAL_LOGITS_BIAS_KEY,
    ],
)
def test_unknown_original_key_is_named(key: str) -> None:
    with pytest.raises(KeyError, match=key.replace(".", r"\.")):
        original_to_native(key)


def test_renamed_key_in_state_dict_fails_naming_it(
    tiny_original_state_dict: dict[str, torch.Tensor],
) -> None:
    state_dict = dict(tiny_original_state_dict)
    state_dict["image_proj_norm.gamma"] = state_dict.pop("image_proj_norm.weight")
    with pytest.raises(KeyError, match=r"image_proj_norm\.gamma"):
        convert_original_state_dict(state_dict)
    with pytest.raises(KeyError, match=r"model\.vision_tower\.stem\.weight"):
        native_to_original("model.vision_tower.stem.weight")


def test_non_zero_final_logits_bias_is_refused(
    tiny_original_state_dict: dict[str, torch.Tensor],
) -> None:
    state_dict = dict(tiny_original_state_dict)
    state_dict[FINAL_LOGITS_BIAS_KEY] = torch.full_like(state_dict[FINAL_LOGITS_BIAS_KEY], 0.5)
    with pytest.raises(ValueError, match="final_logits_bias"):
        convert_original_state_dict(state_dict)


def test_disagreeing_tied_aliases_are_refused(
    tiny_original_state_dict: dict[str, torch.Tensor],
) -> None:
    state_dict = dict(tiny_original_state_dict)
    state_dict["language_model.lm_head.weight"] = (
        state_dict["language_model.model.shared.weight"] + 1
    )
    with pytest.raises(ValueError, match="lm_head"):
        convert_original_state_dict(state_dict)


def test_unsupported_feature_source_is_refused(tiny_original_config: dict[str, Any]) -> None:
    config = copy.deepcopy(tiny_original_config)
    config["vision_config"]["image_feature_source"] = ["last_frame"]
    with pytest.raises(ValueError, match="last_frame"):
        florence2_config_from_original(config)


def _checkpoint_florence2_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in path.read_text().splitlines():
        key, shape, _ = line.split("\t")
        if key.startswith(CHECKPOINT_PREFIX):
            shapes[key.removeprefix(CHECKPOINT_PREFIX)] = tuple(
                int(n) for n in shape[1:-1].split(",")
            )
    return shapes


@pytest.mark.parametrize("name", ["florence-vl-3b.keys.tsv", "florence-vl-8b.keys.tsv"])
def test_released_checkpoint_keys_match_florence2_large(reference_dir: Path, name: str) -> None:
    checkpoint = _checkpoint_florence2_shapes(reference_dir / name)
    native = _native_model(FLORENCE2_LARGE_ORIGINAL_CONFIG).state_dict()
    meta = {key: torch.empty(shape, device="meta") for key, shape in checkpoint.items()}
    # Every checkpoint tensor lands on a native tensor of the same shape and vice versa; the one
    # exception is BART's zero final_logits_bias, which the native model does not have.
    assert checkpoint[FINAL_LOGITS_BIAS_KEY] == (1, 51289)
    assert _shapes(convert_original_state_dict(meta)) == _shapes(native)
    # ... and writing the native model back gives the checkpoint's exact key list and shapes.
    assert _shapes(to_original_state_dict(native)) == checkpoint
