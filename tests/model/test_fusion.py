"""DBFusion variants: documented shapes, neutral gains, the `document` profile, token counts."""

from __future__ import annotations

import pytest
import torch

from model.config import FusionConfig
from model.fusion import FlorenceVLFusion
from tests.model.vlm_fixtures import tiny_florence_vl

B, N, C = 2, 5, 8


@pytest.fixture
def features() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    low_level = torch.randn(B, N, C, generator=generator)  # V
    prompts = torch.randn(B, 3, N, C, generator=generator)  # V'_cap, V'_ocr, V'_reg
    return low_level, prompts


def fuse(config: FusionConfig, low_level: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
    # The tower computes only the configured prompt branches, in the configured order.
    index = {"caption": 0, "ocr": 1, "regions": 2}
    selected = prompts[:, [index[name] for name in config.prompt_branches]]
    return FlorenceVLFusion(config)(low_level, selected)


@pytest.mark.parametrize(
    ("fusion", "shape"),
    [
        ({}, (B, N, 4 * C)),  # channel concatenation, the paper's default
        ({"branches": ("low_level",)}, (B, N, C)),  # V only
        ({"branches": ("low_level", "caption", "regions")}, (B, N, 3 * C)),  # without OCR
        ({"branches": ("low_level", "ocr", "regions")}, (B, N, 3 * C)),  # without caption
        ({"mode": "token_concat"}, (B, 4 * N, C)),
        ({"mode": "average"}, (B, N, C)),
    ],
)
def test_variant_shapes_match_config(features, fusion: dict, shape: tuple[int, ...]) -> None:
    config = FusionConfig(**fusion)
    fused = fuse(config, *features)
    assert tuple(fused.shape) == shape
    assert fused.shape[-1] == config.output_width(C)
    assert fused.shape[1] == config.output_tokens(N)


def test_channel_concat_order_is_v_then_branches(features) -> None:
    low_level, prompts = features
    fused = fuse(FusionConfig(), low_level, prompts)
    blocks = fused.split(C, dim=-1)
    torch.testing.assert_close(blocks[0], low_level, rtol=0, atol=0)
    for i in range(3):
        torch.testing.assert_close(blocks[i + 1], prompts[:, i], rtol=0, atol=0)


def test_average_and_token_concat_values(features) -> None:
    low_level, prompts = features
    average = fuse(FusionConfig(mode="average"), low_level, prompts)
    torch.testing.assert_close(average, torch.cat([low_level[:, None], prompts], 1).mean(1))
    tokens = fuse(FusionConfig(mode="token_concat"), low_level, prompts)
    torch.testing.assert_close(tokens[:, N : 2 * N], prompts[:, 0], rtol=0, atol=0)


def test_unit_gains_change_nothing(features) -> None:
    unit = {"low_level": 1.0, "caption": 1.0, "ocr": 1.0, "regions": 1.0}
    plain = fuse(FusionConfig(), *features)
    assert torch.equal(fuse(FusionConfig(gains=unit), *features), plain)
    assert torch.equal(fuse(FusionConfig().with_profile("default"), *features), plain)


def test_document_profile_changes_only_the_ocr_block(features) -> None:
    plain = fuse(FusionConfig(), *features).split(C, dim=-1)
    document = fuse(FusionConfig().with_profile("document"), *features).split(C, dim=-1)
    for name, before, after in zip(
        ("V", "caption", "ocr", "regions"), plain, document, strict=True
    ):
        if name == "ocr":
            torch.testing.assert_close(after, before * 1.5)
        else:
            assert torch.equal(after, before), name


def test_invalid_settings_raise_naming_values(features) -> None:
    with pytest.raises(ValueError, match="'concat'"):
        FusionConfig(mode="concat")
    with pytest.raises(ValueError, match="depth"):
        FusionConfig(branches=("low_level", "depth"))
    with pytest.raises(ValueError, match="ocr"):
        FusionConfig(branches=("low_level", "caption"), gains={"ocr": 2.0})
    with pytest.raises(ValueError, match="'newspaper'"):
        FusionConfig().with_profile("newspaper")
    low_level, prompts = features
    with pytest.raises(ValueError, match="2 prompt feature blocks"):
        FlorenceVLFusion(FusionConfig())(low_level, prompts[:, :2])


@pytest.mark.parametrize(
    ("fusion", "tokens", "width"),
    [
        ({}, 577, 4 * 64),  # pooled token first, as the authors' code path produces
        ({"include_pooled_token": False}, 576, 4 * 64),  # the paper's count
        ({"branches": ("low_level",)}, 577, 64),  # V only: no encoder passes at all
        ({"mode": "token_concat"}, 4 * 577, 64),
        ({"mode": "average", "include_pooled_token": False}, 576, 64),
    ],
)
def test_model_image_tokens_follow_fusion(fusion: dict, tokens: int, width: int) -> None:
    vl = tiny_florence_vl(**fusion)
    assert vl.config.image_tokens == tokens
    assert vl.config.projector_input_size == width
    assert vl.model.projector.encoder_mlp[0].in_features == width
    with torch.inference_mode():
        image_features = vl.model.get_image_features(torch.randn(1, 3, 768, 768))
    assert tuple(image_features.shape) == (1, tokens, vl.config.hidden_size)
