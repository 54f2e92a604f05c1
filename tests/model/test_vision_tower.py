"""The fused Florence-VL vision tower against what the original Florence-2 code computed.

Reference tensors come from the original remote code on the tiny model (float32, SDPA). The
native modules add their operations in a slightly different order, so values agree to float32
rounding: we allow 1e-5 absolute plus 1e-5 relative (DaViT outputs reach ~11 in magnitude).
"""

from __future__ import annotations

import pytest
import torch

from model.vision_tower import FLORENCE_VL_PROMPTS, FlorenceVisionTower

TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}


@pytest.fixture(scope="module")
def pixel_batch(tiny_io: dict[str, torch.Tensor]) -> torch.Tensor:
    """Three different images: the reference image, its mirror and a random one."""
    image = tiny_io["pixel_values"]
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(image.shape, generator=generator)
    return torch.cat([image, image.flip(-1), noise])  # (3, 3, 768, 768)


@torch.no_grad()
def test_davit_features_match_reference(tiny_tower: FlorenceVisionTower, tiny_io) -> None:
    features = tiny_tower.davit_features(tiny_io["pixel_values"])
    torch.testing.assert_close(features, tiny_io["davit_features"], **TOLERANCE)


@torch.no_grad()
def test_low_level_features_match_encode_image(tiny_tower: FlorenceVisionTower, tiny_io) -> None:
    features = tiny_tower(tiny_io["pixel_values"])
    torch.testing.assert_close(features.low_level, tiny_io["image_features"], **TOLERANCE)


@torch.no_grad()
def test_prompt_features_match_encoder_states(tiny_tower: FlorenceVisionTower, tiny_io) -> None:
    features = tiny_tower(tiny_io["pixel_values"])
    num_image_tokens = tiny_io["image_features"].shape[1]
    expected = tiny_io["encoder_last_hidden_state"][:, :num_image_tokens]  # (P, N, C)
    assert features.prompts.shape == (1, *expected.shape)
    torch.testing.assert_close(features.prompts[0], expected, **TOLERANCE)


@torch.no_grad()
def test_fused_equals_naive_on_a_batch(tiny_tower: FlorenceVisionTower, pixel_batch) -> None:
    fused = tiny_tower(pixel_batch)
    naive = tiny_tower.forward_naive(pixel_batch)
    torch.testing.assert_close(fused.low_level, naive.low_level, atol=1e-5, rtol=0)
    torch.testing.assert_close(fused.prompts, naive.prompts, atol=1e-5, rtol=0)
    # Each image's features are its own: batching does not mix images.
    single = tiny_tower(pixel_batch[1:2])
    torch.testing.assert_close(fused.prompts[1:2], single.prompts, atol=1e-5, rtol=0)


@torch.no_grad()
def test_grid_only_option_drops_the_pooled_token(tiny_tower: FlorenceVisionTower, tiny_io) -> None:
    full = tiny_tower(tiny_io["pixel_values"])
    grid_only = FlorenceVisionTower(tiny_tower.config, include_pooled_token=False).eval()
    grid_only.load_state_dict(tiny_tower.state_dict())
    grid_only.set_prompts(tiny_io["task_ids"])
    features = grid_only(tiny_io["pixel_values"])
    assert features.low_level.shape[1] == 576
    torch.testing.assert_close(features.low_level, full.low_level[:, 1:], atol=0, rtol=0)
    torch.testing.assert_close(features.prompts, full.prompts[:, :, 1:], atol=0, rtol=0)


@torch.no_grad()
def test_masking_padding_is_an_explicit_departure(tiny_tower: FlorenceVisionTower, tiny_io) -> None:
    """Only padded prompts change; the unpadded one (regions, full length) must not."""
    masked = FlorenceVisionTower(tiny_tower.config, mask_prompt_padding=True).eval()
    masked.load_state_dict(tiny_tower.state_dict())
    masked.set_prompts(tiny_io["task_ids"])
    faithful = tiny_tower(tiny_io["pixel_values"]).prompts
    departed = masked(tiny_io["pixel_values"]).prompts
    torch.testing.assert_close(departed[:, 2], faithful[:, 2], **TOLERANCE)
    assert (departed[:, :2] - faithful[:, :2]).abs().max() > 1e-3
    naive = masked.forward_naive(tiny_io["pixel_values"]).prompts
    torch.testing.assert_close(naive, departed, atol=1e-5, rtol=0)


def test_prompt_names_and_order(tiny_tower: FlorenceVisionTower) -> None:
    assert tiny_tower.prompt_names == tuple(FLORENCE_VL_PROMPTS) == ("caption", "ocr", "regions")
    assert "prompt_input_ids" not in tiny_tower.state_dict()


def test_bad_prompts_are_refused(tiny_tower: FlorenceVisionTower) -> None:
    tower = FlorenceVisionTower(tiny_tower.config)
    with pytest.raises(ValueError, match="set_prompts"):
        tower(torch.zeros(1, 3, 768, 768))
    with pytest.raises(ValueError, match=r"\(P, L\)"):
        tower.set_prompts(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="2 prompt names"):
        tower.set_prompts(torch.zeros(3, 4, dtype=torch.long), names=("a", "b"))
