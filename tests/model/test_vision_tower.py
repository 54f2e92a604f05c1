"""The fused Florence-VL vision tower against what the original Florence-2 code computed.

Reference tensors come from the original remote code on the tiny model (float32, SDPA). The
native modules add their operations in a slightly different order, so values agree to float32
rounding: we allow 1e-5 absolute plus 1e-5 relative (DaViT outputs reach ~11 in magnitude).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from transformers.models.clip import CLIPImageProcessorPil

from model.image_processing import IMAGE_MEAN, IMAGE_STD, PAD_COLOUR, preprocess_images
from model.vision_tower import FLORENCE_VL_PROMPTS, FlorenceVisionTower, embed_prompt_tokens

TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}


@pytest.fixture(scope="module")
def pixel_batch(tiny_io: dict[str, torch.Tensor]) -> torch.Tensor:
    """Three different 384x384 images (a 12x12 grid, 145 image tokens: same code paths as
    768x768 at a quarter of the cost): the reference image subsampled, its mirror, noise."""
    image = tiny_io["pixel_values"][..., ::2, ::2]
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(image.shape, generator=generator)
    return torch.cat([image, image.flip(-1), noise])  # (3, 3, 384, 384)


def _variant(tiny_tower: FlorenceVisionTower, **options: bool) -> FlorenceVisionTower:
    """The same weights and prompts in a tower built with other options."""
    tower = FlorenceVisionTower(tiny_tower.config, **options).eval()
    tower.load_state_dict(tiny_tower.state_dict())
    tower.set_prompts(tiny_tower.prompt_input_ids, tiny_tower.prompt_attention_mask)
    return tower


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
def test_encoder_pieces_match_reference(tiny_tower: FlorenceVisionTower, tiny_io) -> None:
    """The prompt embeddings exactly, and the native encoder on the reference's own inputs
    (all-ones mask, i.e. none): isolates the encoder from V's rounding differences."""
    florence2 = tiny_tower.florence2
    prompt_embeds = embed_prompt_tokens(florence2, tiny_io["task_ids"])
    torch.testing.assert_close(prompt_embeds, tiny_io["prompt_embeds"], atol=0, rtol=0)
    assert bool(tiny_io["encoder_attention_mask"].all())
    encoder = florence2.model.language_model.encoder
    hidden_states = encoder(inputs_embeds=tiny_io["encoder_inputs_embeds"]).last_hidden_state
    torch.testing.assert_close(hidden_states, tiny_io["encoder_last_hidden_state"], **TOLERANCE)


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
def test_grid_only_option_drops_the_pooled_token(
    tiny_tower: FlorenceVisionTower, pixel_batch
) -> None:
    full = tiny_tower(pixel_batch[:1])
    features = _variant(tiny_tower, include_pooled_token=False)(pixel_batch[:1])
    assert full.low_level.shape[1] == 145 and features.low_level.shape[1] == 144
    torch.testing.assert_close(features.low_level, full.low_level[:, 1:], atol=0, rtol=0)
    torch.testing.assert_close(features.prompts, full.prompts[:, :, 1:], atol=0, rtol=0)


@torch.no_grad()
def test_masking_padding_is_an_explicit_departure(
    tiny_tower: FlorenceVisionTower, pixel_batch
) -> None:
    """Only padded prompts change (caption, OCR); the full-length regions prompt must not."""
    masked = _variant(tiny_tower, mask_prompt_padding=True)
    faithful = tiny_tower(pixel_batch[:2]).prompts
    departed = masked(pixel_batch[:2]).prompts
    torch.testing.assert_close(departed[:, 2], faithful[:, 2], **TOLERANCE)
    assert (departed[:, :2] - faithful[:, :2]).abs().max() > 1e-3
    naive = masked.forward_naive(pixel_batch[:2]).prompts
    torch.testing.assert_close(naive, departed, atol=1e-5, rtol=0)


def test_prompt_names_and_order(tiny_tower: FlorenceVisionTower) -> None:
    assert tiny_tower.prompt_names == tuple(FLORENCE_VL_PROMPTS) == ("caption", "ocr", "regions")
    assert "prompt_input_ids" not in tiny_tower.state_dict()


def test_bad_prompts_and_config_are_refused(tiny_tower: FlorenceVisionTower) -> None:
    tower = FlorenceVisionTower(tiny_tower.config)
    with pytest.raises(ValueError, match="set_prompts"):
        tower(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"\(P, L\)"):
        tower.set_prompts(torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="2 prompt names"):
        tower.set_prompts(torch.zeros(3, 4, dtype=torch.long), names=("a", "b"))
    config = copy.deepcopy(tiny_tower.config)
    config.vision_config.projection_dim = 32
    with pytest.raises(ValueError, match="32"):
        FlorenceVisionTower(config)


def _random_image(width: int, height: int, seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def test_stretch_matches_the_florence2_image_processor() -> None:
    """Florence-2's processor: CLIP-style, bicubic 768x768 resize, no crop, ImageNet mean/std."""
    images = [_random_image(300, 200, 0), _random_image(120, 260, 1).convert("L")]
    florence2_processor = CLIPImageProcessorPil(
        size={"height": 768, "width": 768},
        do_center_crop=False,
        image_mean=list(IMAGE_MEAN),
        image_std=list(IMAGE_STD),
    )
    expected = florence2_processor(images, return_tensors="pt")["pixel_values"]
    pixel_values = preprocess_images(images, resize_mode="stretch")
    assert pixel_values.shape == (2, 3, 768, 768) and pixel_values.dtype == torch.float32
    torch.testing.assert_close(pixel_values, expected, atol=1e-6, rtol=0)


def test_pad_centres_the_image_on_the_mean_colour() -> None:
    assert PAD_COLOUR == (123, 116, 103)
    wide = Image.new("RGB", (64, 32), (255, 255, 255))
    pixel_values = preprocess_images([wide], size=64, resize_mode="pad")  # (1, 3, 64, 64)
    pad_value = (np.asarray(PAD_COLOUR) / 255 - np.asarray(IMAGE_MEAN)) / np.asarray(IMAGE_STD)
    white = (1 - np.asarray(IMAGE_MEAN)) / np.asarray(IMAGE_STD)
    column = pixel_values[0, :, :, 32].numpy()  # (3, 64): top band, image, bottom band
    np.testing.assert_allclose(column[:, :14], pad_value[:, None].repeat(14, 1), atol=1e-5)
    np.testing.assert_allclose(column[:, 18:46], white[:, None].repeat(28, 1), atol=1e-5)
    np.testing.assert_allclose(column[:, 50:], pad_value[:, None].repeat(14, 1), atol=1e-5)
    square = _random_image(50, 50, 2)
    torch.testing.assert_close(
        preprocess_images([square], resize_mode="pad"),
        preprocess_images([square], resize_mode="stretch"),
    )


def test_preprocess_refuses_bad_arguments() -> None:
    image = _random_image(8, 8, 3)
    with pytest.raises(ValueError, match="'crop'"):
        preprocess_images([image], resize_mode="crop")
    with pytest.raises(ValueError, match="-1"):
        preprocess_images([image], size=-1)
    with pytest.raises(ValueError, match="none"):
        preprocess_images([])
