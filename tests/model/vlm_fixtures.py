"""Helpers shared by the Florence-VL (VLM side) tests: tiny models and real page images."""

from __future__ import annotations

from PIL import Image

from model.generation import FlorenceVLGenerator
from model.tiny import tiny_random_generator
from tests.conftest import SHARED_DATA as DATA_DIR

QUESTIONS = (
    "What is the total?",
    "Which company issued this receipt, and where is it located?",
    "Date?",
)


def tiny_florence_vl(backbone: str = "phi3", seed: int = 0, **fusion) -> FlorenceVLGenerator:
    return tiny_random_generator(backbone, seed, **fusion)


def page_images(count: int) -> list[Image.Image]:
    """The first `count` SROIE receipt scans, as RGB."""
    paths = sorted((DATA_DIR / "sroie-dev" / "images").glob("*.jpg"))[:count]
    assert len(paths) == count, f"need {count} page images under {DATA_DIR}"
    return [Image.open(path).convert("RGB") for path in paths]
