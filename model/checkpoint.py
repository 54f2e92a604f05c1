"""Read and write Florence-VL checkpoints in the RELEASED layout (`jiuhai/florence-vl-*-sft`).

Layout: `config.json` (see `model/config.py`), sharded safetensors with
`model.safetensors.index.json`, the LLM tokenizer files, and (ours only) the Florence-2
tokenizer under `florence2_tokenizer/`. Weight names, by explicit prefix map:

    language_model.model.*          <-> model.*            (LLM; lm_head.weight not tied)
    language_model.lm_head.weight   <-> lm_head.weight
    projector.encoder_mlp.*         <-> model.mm_projector.encoder_mlp.*
    vision_tower.florence2.<native> <-> model.vision_tower.vision_tower.<original Florence-2>

The last line goes through `model.florence2_keys` (native <-> original remote-code names, the
transposed image projection, the four stored aliases of BART's tied embedding). Loading checks
the checkpoint's key set and shapes against the model before reading a single tensor and fails
naming every missing, unexpected or mis-shaped key.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from model.config import FlorenceVLConfig, FusionConfig
from model.florence2_keys import convert_original_state_dict, to_original_state_dict
from model.modeling_florence_vl import FlorenceVLForConditionalGeneration

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
GENERATION_CONFIG_NAME = "generation_config.json"
INDEX_NAME = "model.safetensors.index.json"
SINGLE_FILE_NAME = "model.safetensors"
FLORENCE2_TOKENIZER_DIR = "florence2_tokenizer"

_TOWER_NATIVE, _TOWER_RELEASED = "vision_tower.florence2.", "model.vision_tower.vision_tower."
_PROJECTOR_NATIVE, _PROJECTOR_RELEASED = "projector.", "model.mm_projector."
_LLM_NATIVE = "language_model."
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_MAX_NAMED = 20  # keys named per category in an error message


class CheckpointError(ValueError):
    """A checkpoint cannot be found or does not fit the model; the message names what."""


def to_released_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our module names -> the released checkpoint's names (tied aliases emitted as stored)."""
    released, tower = {}, {}
    for key, tensor in state_dict.items():
        if key.startswith(_TOWER_NATIVE):
            tower[key.removeprefix(_TOWER_NATIVE)] = tensor
        elif key.startswith(_PROJECTOR_NATIVE):
            released[_PROJECTOR_RELEASED + key.removeprefix(_PROJECTOR_NATIVE)] = tensor
        elif key.startswith(_LLM_NATIVE):
            released[key.removeprefix(_LLM_NATIVE)] = tensor
        else:
            raise CheckpointError(f"no released name for module key {key!r}")
    for key, tensor in to_original_state_dict(tower).items():
        released[_TOWER_RELEASED + key] = tensor
    return released


def from_released_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Released names -> our module names; works on any subset (e.g. one shard)."""
    native, tower = {}, {}
    for key, tensor in state_dict.items():
        if key.startswith(_TOWER_RELEASED):
            tower[key.removeprefix(_TOWER_RELEASED)] = tensor
        elif key.startswith(_PROJECTOR_RELEASED):
            native[_PROJECTOR_NATIVE + key.removeprefix(_PROJECTOR_RELEASED)] = tensor
        else:
            native[_LLM_NATIVE + key] = tensor
    for key, tensor in convert_original_state_dict(tower).items():
        native[_TOWER_NATIVE + key] = tensor
    return native


def save_checkpoint(
    model: FlorenceVLForConditionalGeneration,
    directory: str | os.PathLike[str],
    *,
    llm_tokenizer=None,
    florence2_tokenizer=None,
    stop_token_ids: Sequence[int] = (),
    max_shard_bytes: int = 5 * 1024**3,
) -> Path:
    """Write `model` (and tokenizers, when given) as a released-layout directory; the
    `stop_token_ids` go to `generation_config.json` as its `eos_token_id` list."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_NAME).write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    if stop_token_ids:
        generation = {"eos_token_id": sorted(stop_token_ids)}
        (directory / GENERATION_CONFIG_NAME).write_text(json.dumps(generation, indent=2) + "\n")
    released = to_released_state_dict(model.state_dict())
    shards = _plan_shards(released, max_shard_bytes)
    weight_map, seen_storage = {}, set()
    for number, keys in enumerate(shards, start=1):
        name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        tensors = {}
        for key in keys:
            tensor = released[key].detach().to("cpu").contiguous()
            # The tied BART embedding is one tensor under four names; safetensors refuses
            # shared storage and the released files hold four copies, so copy the repeats.
            if tensor.untyped_storage().data_ptr() in seen_storage:
                tensor = tensor.clone()
            seen_storage.add(tensor.untyped_storage().data_ptr())
            tensors[key] = tensor
            weight_map[key] = name
        save_file(tensors, directory / name, metadata={"format": "pt"})
    total = sum(t.numel() * t.element_size() for t in released.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (directory / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
    if llm_tokenizer is not None:
        llm_tokenizer.save_pretrained(directory)
    if florence2_tokenizer is not None:
        florence2_tokenizer.save_pretrained(directory / FLORENCE2_TOKENIZER_DIR)
    logger.info(
        "saved Florence-VL checkpoint (%d tensors, %d shards) to %s",
        len(released),
        len(shards),
        directory,
    )
    return directory


def load_checkpoint(
    id_or_path: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    fusion: FusionConfig | None = None,
    gain_profile: str | None = None,
    attn_implementation: str = "sdpa",
) -> tuple[FlorenceVLForConditionalGeneration, Path]:
    """Build the model from `config.json` on `device` in `dtype` and load every weight.

    `fusion` replaces the stored fusion settings (an ablation variant); `gain_profile` keeps
    them and applies a named gain profile (an inference-time choice, e.g. "document") unless
    the checkpoint's gains were learned by fine-tuning.
    Returns the model (in eval mode) and the resolved local directory.
    """
    directory = resolve_checkpoint(id_or_path)
    config = FlorenceVLConfig.from_dict(
        json.loads((directory / CONFIG_NAME).read_text()), fusion=fusion
    )
    if gain_profile is not None and config.fusion.gains_learned:
        logger.info("%s: keeps the fusion gains it learned, not %r's", directory, gain_profile)
    elif gain_profile is not None:
        config.fusion = config.fusion.with_profile(gain_profile)
    # Built in place on the target device and dtype: an 8B model never exists in float32.
    with torch.device(device), _default_dtype(dtype):
        model = FlorenceVLForConditionalGeneration(config, attn_implementation=attn_implementation)
    shard_files = _shard_files(directory)
    _check_keys_and_shapes(model, shard_files)
    loaded: set[str] = set()
    for shard in shard_files:
        native = from_released_state_dict(load_file(shard))
        result = model.load_state_dict(native, strict=False)
        if result.unexpected_keys:  # unreachable after the check above, unless the map is wrong
            raise CheckpointError(f"{shard.name}: keys fit no module: {result.unexpected_keys}")
        loaded.update(native)
    unset = sorted(set(model.state_dict()) - loaded)
    if unset:
        raise CheckpointError(f"module weights left unset by the checkpoint: {_name(unset)}")
    logger.info(
        "loaded Florence-VL (%s) from %s on %s as %s", config.model_type, directory, device, dtype
    )
    return model.eval(), directory


def checkpoint_stop_ids(directory: Path) -> list[int]:
    """The token ids `generation_config.json` lists as `eos_token_id` (one id or a list), or
    none without the file. The released checkpoints inherit their base model's list:
    Phi-3.5-mini's and Llama-3.1-Instruct's each name several end tokens, and generation
    must stop on every one of them, not only on the tokenizer's own EOS."""
    path = directory / GENERATION_CONFIG_NAME
    if not path.is_file():
        return []
    listed = json.loads(path.read_text()).get("eos_token_id")
    ids = listed if isinstance(listed, list) else [] if listed is None else [listed]
    return [int(token_id) for token_id in ids]


def resolve_checkpoint(id_or_path: str | os.PathLike[str]) -> Path:
    """A local directory as is; a hub id (`owner/name`) through the local cache or a download.

    Offline (`HF_HUB_OFFLINE=1`) or without network this fails at once with a message saying
    what to do, rather than waiting on the hub.
    """
    path = Path(id_or_path).expanduser()
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise CheckpointError(f"{path} has no {CONFIG_NAME}: not a Florence-VL checkpoint")
        return path
    text = str(id_or_path)
    if not _HUB_ID.match(text):
        raise CheckpointError(f"checkpoint directory {path} does not exist")
    from huggingface_hub import constants, snapshot_download

    offline = constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true")
    try:
        local = snapshot_download(text, local_files_only=offline, etag_timeout=10)
    except Exception as error:  # the hub client raises many kinds; all mean "not available"
        how = (
            "HF_HUB_OFFLINE is set and it is not in the local cache"
            if offline
            else "download failed"
        )
        raise CheckpointError(
            f"cannot get checkpoint {text!r} from the Hugging Face hub ({how}: "
            f"{type(error).__name__}). Download it on a machine with hub access "
            f"(`huggingface-cli download {text}`) and pass the local directory instead."
        ) from error
    return Path(local)


def _shard_files(directory: Path) -> list[Path]:
    index = directory / INDEX_NAME
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = [directory / name for name in sorted(set(weight_map.values()))]
    else:
        files = [directory / SINGLE_FILE_NAME]
    absent = [str(f) for f in files if not f.is_file()]
    if absent:
        raise CheckpointError(f"checkpoint weight files missing: {absent}")
    return files


def _check_keys_and_shapes(
    model: FlorenceVLForConditionalGeneration, shard_files: list[Path]
) -> None:
    """Compare the checkpoint's names and shapes with the model's, reading headers only."""
    expected = {k: tuple(t.shape) for k, t in to_released_state_dict(model.state_dict()).items()}
    found: dict[str, tuple[int, ...]] = {}
    for shard in shard_files:
        with safe_open(shard, framework="pt") as handle:
            for key in handle.keys():  # noqa: SIM118 (safe_open is not a Mapping)
                found[key] = tuple(handle.get_slice(key).get_shape())
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(
        f"{k} {found[k]} (model {expected[k]})"
        for k in set(found) & set(expected)
        if found[k] != expected[k]
    )
    problems = [
        f"{label} ({len(keys)}): {_name(keys)}"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", wrong),
        )
        if keys
    ]
    if problems:
        for problem in problems:
            logger.error("checkpoint mismatch, %s", problem)
        raise CheckpointError("checkpoint does not fit the model: " + "; ".join(problems))


def _plan_shards(state_dict: Mapping[str, torch.Tensor], max_bytes: int) -> list[list[str]]:
    shards: list[list[str]] = [[]]
    size = 0
    for key, tensor in state_dict.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(key)
        size += nbytes
    return shards


def _name(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_NAMED])
    return shown + (f", ... and {len(keys) - _MAX_NAMED} more" if len(keys) > _MAX_NAMED else "")


@contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)
