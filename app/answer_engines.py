"""Choosing the answering engine from settings, and saying why.

`auto` prefers Florence-VL, but only when its checkpoint is already on this machine (a
local directory, or the Hugging Face cache): a CLI call must never start a multi-GB
download or hang offline. Otherwise it falls back to the extractive engine.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.config import EngineName, Settings
from pipeline.engines.base import Engine

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineChoice:
    name: str
    reason: str


def choose_engine(settings: Settings) -> EngineChoice:
    if settings.engine != "auto":
        return EngineChoice(settings.engine, f"DOCFUSE_ENGINE={settings.engine}")
    location = local_checkpoint(settings.model)
    if location is not None:
        return EngineChoice("florence-vl", f"Florence-VL checkpoint found at {location}")
    return EngineChoice(
        "extractive",
        f"no local Florence-VL checkpoint for '{settings.model}' (point DOCFUSE_MODEL at a "
        "downloaded checkpoint directory to use it); using the extractive engine",
    )


def local_checkpoint(model: str) -> Path | None:
    """Where `model` (a directory or a hub id) is on disk, without touching the network."""
    path = Path(model).expanduser()
    if (path / "config.json").is_file():
        return path
    if path.is_absolute() or model.count("/") != 1:
        return None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(model, "config.json")
    return Path(cached).parent if isinstance(cached, str) else None


def engine_for(settings: Settings, name: str | None = None) -> Engine:
    """The engine `name` (None: the configured one), built once per process and kept: a
    worker loads its model on its first task, not on every task."""
    if name is not None:
        settings = settings.model_copy(update={"engine": EngineName(name)})
    choice = choose_engine(settings)
    return _kept_engine(choice.name, *_model_settings(settings))


def build_engine(settings: Settings, choice: EngineChoice) -> Engine:
    """Instantiate the chosen engine (model loading happens here)."""
    return _build(choice.name, *_model_settings(settings))


def _model_settings(settings: Settings) -> tuple[str, str, str, str, str, int]:
    """What an engine is built from. The ranker file comes with its modification time, so
    a ranker that docfuse train-extractor rewrites is used from the next task on."""
    ranker = settings.ranker_file()
    stamp = ranker.stat().st_mtime_ns if ranker is not None and ranker.is_file() else 0
    return (
        settings.model,
        settings.device,
        settings.fusion_profile,
        settings.adapter,
        str(ranker or ""),
        stamp,
    )


def _build(
    name: str,
    model: str,
    device: str,
    fusion_profile: str,
    adapter: str,
    ranker: str,
    _ranker_stamp: int,  # only keys the kept engine: a rewritten ranker file is a new one
) -> Engine:
    if name == "extractive":
        from pipeline.engines.extractive import ExtractiveEngine
        from pipeline.engines.ranker import load_ranker

        return ExtractiveEngine(load_ranker(Path(ranker)) if ranker else None)
    from pipeline.engines.florence_vl import FlorenceVLEngine

    if name == "tiny-random":
        return FlorenceVLEngine.tiny_random(fusion_profile=fusion_profile, adapter=adapter)
    return FlorenceVLEngine(model, device=device, fusion_profile=fusion_profile, adapter=adapter)


_kept_engine = lru_cache(maxsize=4)(_build)
