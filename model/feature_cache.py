"""Projected image features kept for pages seen recently, so that a second question about a
page does not run the vision tower again (its four encoder passes cost far more than a
short answer).

The cache belongs to one loaded model, which fixes the checkpoint revision and the fusion
profile: an entry is keyed by the page's content alone, and a model loaded with another
revision or profile has a cache of its own.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch
from PIL import Image


def image_digest(image: Image.Image) -> str:
    """The sha256 of an image's pixels, mode and size: the same page, however it was read."""
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


class FeatureCache:
    """A least-recently-used map from image digests to (T, H) projected features."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self._entries: OrderedDict[str, torch.Tensor] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> torch.Tensor | None:
        features = self._entries.get(key)
        if features is not None:
            self._entries.move_to_end(key)
        return features

    def put(self, key: str, features: torch.Tensor) -> None:
        if self.capacity == 0:
            return
        self._entries[key] = features
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (after the model's weights change)."""
        self._entries.clear()
