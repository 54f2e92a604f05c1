"""Released-layout checkpoints: exact round trips, loud failures, fast offline hub errors."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from model.checkpoint import (
    CONFIG_NAME,
    GENERATION_CONFIG_NAME,
    INDEX_NAME,
    SINGLE_FILE_NAME,
    CheckpointError,
    checkpoint_stop_ids,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
    to_released_state_dict,
)
from model.config import FlorenceVLConfig
from model.generation import FlorenceVLGenerator, GenerationSettings
from tests.model.vlm_fixtures import DATA_DIR, QUESTIONS, page_images, tiny_florence_vl

TOWER = "model.vision_tower.vision_tower."
REFERENCE_DIR = DATA_DIR.parent / "reference"
TIED_ALIASES = (
    "language_model.model.encoder.embed_tokens.weight",
    "language_model.model.decoder.embed_tokens.weight",
    "language_model.lm_head.weight",
)


@pytest.fixture(scope="module")
def saved_phi3(tmp_path_factory) -> Path:
    return tiny_florence_vl("phi3").save_pretrained(tmp_path_factory.mktemp("phi3"))


def shard(directory: Path) -> Path:
    (path,) = directory.glob("model-*.safetensors")
    return path


def corrupt(source: Path, target: Path, edit) -> Path:
    """Copy a one-shard checkpoint and apply `edit` to its tensors (and the index)."""
    shutil.copytree(source, target)
    path = shard(target)
    tensors = edit(load_file(path))
    save_file(tensors, path)
    index = json.loads((target / INDEX_NAME).read_text())
    index["weight_map"] = {key: path.name for key in tensors}
    (target / INDEX_NAME).write_text(json.dumps(index))
    return target


@pytest.mark.parametrize("backbone", ["phi3", "llama"])
def test_round_trip_is_exact(backbone: str, tmp_path: Path) -> None:
    original = tiny_florence_vl(backbone, seed=1)
    # Small shards, so the sharded path (several files + index) is exercised.
    save_checkpoint(
        original.model,
        tmp_path,
        llm_tokenizer=original.llm_tokenizer,
        florence2_tokenizer=original.florence2_tokenizer,
        max_shard_bytes=4 * 1024**2,
    )
    assert len(json.loads((tmp_path / INDEX_NAME).read_text())["weight_map"]) > 0
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 1
    loaded = FlorenceVLGenerator.from_pretrained(tmp_path)

    assert loaded.config.to_dict() == original.config.to_dict()
    before, after = original.model.state_dict(), loaded.model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)

    pages = page_images(1)
    ids, mask = original.batch_prompts([original.prompt_ids(QUESTIONS[0])])
    assert torch.equal(loaded.batch_prompts([loaded.prompt_ids(QUESTIONS[0])])[0], ids)
    with torch.inference_mode():
        logits = [
            vl.model(ids, mask, pixel_values=vl.preprocess(pages)).logits
            for vl in (original, loaded)
        ]
    assert torch.equal(logits[0], logits[1])
    settings = GenerationSettings(max_new_tokens=6)
    requests = [(0, q) for q in QUESTIONS]
    assert [a.token_ids for a in loaded.answer(pages, requests, settings=settings)] == [
        a.token_ids for a in original.answer(pages, requests, settings=settings)
    ]


def test_released_files_hold_tied_aliases_and_original_names(saved_phi3: Path) -> None:
    tensors = load_file(shard(saved_phi3))
    aliases = [
        "language_model.model.shared.weight",
        "language_model.model.encoder.embed_tokens.weight",
        "language_model.model.decoder.embed_tokens.weight",
        "language_model.lm_head.weight",
    ]
    first = tensors[TOWER + aliases[0]]
    assert all(torch.equal(tensors[TOWER + name], first) for name in aliases)
    assert TOWER + "image_projection" in tensors
    assert "model.mm_projector.encoder_mlp.2.1.weight" in tensors
    assert not torch.equal(tensors["lm_head.weight"], tensors["model.embed_tokens.weight"])
    config = json.loads((saved_phi3 / "config.json").read_text())
    assert config["model_type"] == "llava_phi"
    assert config["mm_projector_type"] == "mlp3x_gelu"
    assert config["image_aspect_ratio"] == "pad"
    assert config["mm_use_im_start_end"] is False


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        (
            "renamed",
            lambda t: {
                ("model.norm.weightx" if k == "model.norm.weight" else k): v for k, v in t.items()
            },
            r"missing \(1\): model\.norm\.weight;.*unexpected \(1\): model\.norm\.weightx",
        ),
        (
            "missing",
            lambda t: {k: v for k, v in t.items() if k != "model.mm_projector.encoder_mlp.0.bias"},
            r"missing \(1\): model\.mm_projector\.encoder_mlp\.0\.bias",
        ),
        (
            "wrong-shape",
            lambda t: {**t, "lm_head.weight": t["lm_head.weight"][:-1].clone()},
            r"wrong shape \(1\): lm_head\.weight \(\d+, 64\) \(model \(\d+, 64\)\)",
        ),
        (
            "tower-missing",
            lambda t: {k: v for k, v in t.items() if k != TOWER + "image_proj_norm.bias"},
            r"missing \(1\): model\.vision_tower\.vision_tower\.image_proj_norm\.bias",
        ),
    ],
)
def test_mismatched_checkpoint_fails_naming_the_key(
    saved_phi3: Path, tmp_path: Path, name: str, edit, message: str
) -> None:
    broken = corrupt(saved_phi3, tmp_path / name, edit)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(broken)


def test_hub_id_offline_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    started = time.monotonic()
    with pytest.raises(CheckpointError, match=r"jiuhai/florence-vl-3b-sft.*HF_HUB_OFFLINE.*local"):
        resolve_checkpoint("jiuhai/florence-vl-3b-sft")
    assert time.monotonic() - started < 5


def test_missing_local_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(tmp_path / "nowhere" / "model")
    with pytest.raises(CheckpointError, match="no config.json"):
        resolve_checkpoint(tmp_path)


def test_released_config_without_extension_gets_documented_defaults(saved_phi3: Path) -> None:
    released = json.loads((saved_phi3 / "config.json").read_text())
    released.pop("florence_vl")
    released["mm_hidden_size"] = 1024  # as in the real checkpoints (the tiny model has 64)
    config = FlorenceVLConfig.from_dict(released)
    assert config.florence2_config["vision_config"]["dim_embed"] == [256, 512, 1024, 2048]
    assert config.fusion.mode == "channel_concat"
    assert config.image_tokens == 577
    assert config.chat_template == "phi3"
    assert config.text_config.vocab_size == released["vocab_size"]


def test_original_florence2_weights_load_under_the_released_prefix(tmp_path: Path) -> None:
    """The reference tiny Florence-2, saved by the ORIGINAL code with its original names, put
    under `model.vision_tower.vision_tower.` as the released files have it, loads through our
    loader (single-file layout) and reproduces the original code's V and V'."""
    original = load_file(REFERENCE_DIR / "florence2-tiny.safetensors")
    io = load_file(REFERENCE_DIR / "florence2-tiny-io.safetensors")
    for alias in TIED_ALIASES:  # the reference stores the tied embedding once, releases 4 times
        original[alias] = original["language_model.model.shared.weight"].clone()
    vl = tiny_florence_vl("phi3")
    released = {
        key: tensor.contiguous()
        for key, tensor in to_released_state_dict(vl.model.state_dict()).items()
        if not key.startswith(TOWER)
    }
    released.update({TOWER + key: tensor for key, tensor in original.items()})
    save_file(released, tmp_path / SINGLE_FILE_NAME)
    (tmp_path / CONFIG_NAME).write_text(json.dumps(vl.config.to_dict()))

    model, _ = load_checkpoint(tmp_path)
    tower = model.vision_tower
    tower.set_prompts(io["task_ids"], names=("caption", "ocr", "regions"))
    with torch.inference_mode():
        features = tower(io["pixel_values"])
    tolerance = {"atol": 1e-5, "rtol": 1e-5}
    torch.testing.assert_close(features.low_level, io["image_features"], **tolerance)
    torch.testing.assert_close(
        features.prompts[0], io["encoder_last_hidden_state"][:, :577], **tolerance
    )


def test_released_style_phi35_config_reads_and_keeps_llava_fields() -> None:
    """A config.json shaped like the 3B release (LLaVA fields, Phi-3.5's longrope scaling)."""
    released = {
        "architectures": ["LlavaPhiForCausalLM"],
        "model_type": "llava_phi",
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32064,
        "max_position_embeddings": 131072,
        "original_max_position_embeddings": 4096,
        "rope_theta": 10000.0,
        "rope_scaling": {"type": "longrope", "short_factor": [1.0] * 48, "long_factor": [2.0] * 48},
        "sliding_window": 262144,
        "bos_token_id": 1,
        "eos_token_id": 32000,
        "pad_token_id": 32000,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "mm_hidden_size": 1024,
        "mm_projector_type": "mlp3x_gelu",
        "mm_vision_tower": "jiuhai/florence-phi-vision-tower",
        "mm_vision_select_layer": -2,
        "image_aspect_ratio": "pad",
        "mm_use_im_start_end": False,
        "tokenizer_model_max_length": 2048,
        "tokenizer_padding_side": "right",
    }
    config = FlorenceVLConfig.from_dict(released)
    assert (config.hidden_size, config.text_config.vocab_size) == (3072, 32064)
    assert config.text_config.rope_parameters["rope_type"] == "longrope"
    assert config.projector_input_size == 4096 and config.image_tokens == 577
    assert config.resize_mode == "pad"
    written = config.to_dict()
    for key in ("mm_vision_tower", "mm_vision_select_layer", "tokenizer_model_max_length"):
        assert written[key] == released[key]
    assert written["architectures"] == ["LlavaPhiForCausalLM"]
    assert FlorenceVLConfig.from_dict(written).to_dict() == written


@pytest.mark.parametrize("backbone", ["phi3", "llama"])
def test_generation_stops_on_every_end_token_the_checkpoint_lists(
    backbone: str, tmp_path: Path
) -> None:
    original = tiny_florence_vl(backbone)
    pages, request = page_images(1), [(0, QUESTIONS[0])]
    settings = GenerationSettings(max_new_tokens=6)
    (free,) = original.answer(pages, request, settings=settings)
    first = free.token_ids[0]  # what the random model says first: made an end token below
    assert first not in original.stop_token_ids and len(free.token_ids) > 1
    save_checkpoint(
        original.model,
        tmp_path,
        llm_tokenizer=original.llm_tokenizer,
        florence2_tokenizer=original.florence2_tokenizer,
    )
    listed = [original.llm_tokenizer.eos_token_id, first]  # as Phi-3.5's and Llama-3.1's lists
    (tmp_path / GENERATION_CONFIG_NAME).write_text(json.dumps({"eos_token_id": listed}))
    loaded = FlorenceVLGenerator.from_pretrained(tmp_path)
    assert set(original.stop_token_ids) | {first} == set(loaded.stop_token_ids)
    (stopped,) = loaded.answer(pages, request, settings=settings)
    assert stopped.token_ids == (first,) and stopped.text == ""
    again = loaded.save_pretrained(tmp_path / "again")  # the list survives a save
    assert checkpoint_stop_ids(again) == loaded.stop_token_ids
    (again / GENERATION_CONFIG_NAME).write_text(json.dumps({"eos_token_id": first}))
    assert checkpoint_stop_ids(again) == [first]  # one id, not a list, is read too
