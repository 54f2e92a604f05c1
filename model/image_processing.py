"""Page images -> Florence-2 pixel values, as Florence-VL prepared them (PIL + numpy only).

Florence-2's processor is a CLIP-style one: bicubic resize to 768x768 without cropping, rescale
to 0..1, normalise with the ImageNet mean/std. Florence-VL's SFT checkpoints
(``image_aspect_ratio: pad``) first pad the image to a square with the mean colour, centred, as
LLaVA's ``expand2square`` does; pretraining stretched the image instead. transformers' own image
processors are not used because their fast path needs torchvision, which docfuse does not ship.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch import Tensor

logger = logging.getLogger(__name__)

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
# The padding colour is the mean in 0..255, truncated as the reference does: (123, 116, 103).
PAD_COLOUR = tuple(int(channel * 255) for channel in IMAGE_MEAN)

ResizeMode = Literal["pad", "stretch"]


def square_padding(width: int, height: int) -> tuple[int, int, int]:
    """(side, left, top): the square ``expand_to_square`` makes and where the image sits in it."""
    side = max(width, height)
    return side, (side - width) // 2, (side - height) // 2


def expand_to_square(image: Image.Image, colour: tuple[int, ...] = PAD_COLOUR) -> Image.Image:
    """Pad ``image`` to a square of its longer side, centred, filled with ``colour``."""
    width, height = image.size
    if width == height:
        return image
    side, left, top = square_padding(width, height)
    square = Image.new(image.mode, (side, side), colour)
    square.paste(image, (left, top))
    return square


def preprocess_images(
    images: Sequence[Image.Image],
    *,
    size: int = 768,
    resize_mode: ResizeMode = "pad",
    device: torch.device | str = "cpu",
) -> Tensor:
    """Images -> (B, 3, size, size) float32 normalised pixel values on `device`.

    ``resize_mode="pad"`` pads to a square with the mean colour before resizing (SFT
    checkpoints); ``"stretch"`` resizes directly, distorting the aspect ratio (pretraining).
    Only the resize runs in PIL (in threads); the pixels travel as bytes and are scaled and
    normalised on the device (in float32, as the reference's numpy does): a quarter of the
    data to move, and the host's slowest step gone from a GPU worker.
    """
    if resize_mode not in ("pad", "stretch"):
        raise ValueError(f"resize_mode must be 'pad' or 'stretch', got {resize_mode!r}")
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    if not images:
        raise ValueError("preprocess_images needs at least one image, got none")

    def resized(image: Image.Image) -> np.ndarray:
        image = image.convert("RGB")
        if resize_mode == "pad":
            image = expand_to_square(image)
        return np.asarray(image.resize((size, size), resample=Image.Resampling.BICUBIC))

    # PIL lets go of the GIL while it resizes: a batch's pages resize on all cores at once.
    with ThreadPoolExecutor(max_workers=min(len(images), os.cpu_count() or 1)) as pool:
        pixels = torch.from_numpy(np.stack(list(pool.map(resized, images))))
    pixels = pixels.to(device).permute(0, 3, 1, 2)  # (B, 3, H, W)
    mean = torch.tensor(IMAGE_MEAN, device=pixels.device)[:, None, None]
    std = torch.tensor(IMAGE_STD, device=pixels.device)[:, None, None]
    return pixels.float().div_(255.0).sub_(mean).div_(std)  # in place: one float copy
