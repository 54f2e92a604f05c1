"""Florence-VL in PyTorch on transformers (see docs/model.md).

The names below load on first use (PEP 562), so `import model` alone stays cheap and does
not pull in torch or transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FlorenceVLGenerator": "model.generation",
    "GenerationSettings": "model.generation",
    "GeneratedAnswer": "model.generation",
    "FlorenceVLConfig": "model.config",
    "FusionConfig": "model.config",
    "FUSION_PROFILES": "model.config",
    "FlorenceVLForConditionalGeneration": "model.modeling_florence_vl",
    "CheckpointError": "model.checkpoint",
    "load_checkpoint": "model.checkpoint",
    "save_checkpoint": "model.checkpoint",
    "build_tiny_random": "model.tiny",
    "save_tiny_random": "model.tiny",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'model' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
