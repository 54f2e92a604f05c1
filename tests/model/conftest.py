"""Fixtures for the Florence-2 side of model/: the tiny original-layout reference model.

``shared/reference`` holds a tiny Florence-2 in the original remote-code layout, its config and
what the original code computed with it (see its README). Loading it takes a few seconds, so the
tower is built once per session and switched to eval mode; tests must not modify it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from model.florence2_keys import convert_original_state_dict, florence2_config_from_original
from model.vision_tower import FlorenceVisionTower
from tests.conftest import SHARED_DATA

REFERENCE_DIR = SHARED_DATA.parent / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE_DIR.is_dir():
        pytest.fail(f"the Florence-2 reference data is missing: {REFERENCE_DIR}")
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def tiny_original_config(reference_dir: Path) -> dict[str, Any]:
    return json.loads((reference_dir / "florence2-tiny-config.json").read_text())


@pytest.fixture(scope="session")
def tiny_original_state_dict(reference_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(reference_dir / "florence2-tiny.safetensors")


@pytest.fixture(scope="session")
def tiny_io(reference_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(reference_dir / "florence2-tiny-io.safetensors")


@pytest.fixture(scope="session")
def tiny_tower(
    tiny_original_config: dict[str, Any],
    tiny_original_state_dict: dict[str, torch.Tensor],
    tiny_io: dict[str, torch.Tensor],
) -> FlorenceVisionTower:
    """The reference weights in our tower, the three reference prompts set, eval mode."""
    config = florence2_config_from_original(tiny_original_config)
    tower = FlorenceVisionTower(config)
    tower.florence2.load_state_dict(convert_original_state_dict(tiny_original_state_dict))
    tower.set_prompts(tiny_io["task_ids"])
    return tower.eval()
