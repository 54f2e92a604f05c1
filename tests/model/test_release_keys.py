"""Our save mapping reproduces the released checkpoints' key sets and shapes exactly.

The 3B and 8B configurations are built from published facts (Phi-3.5-mini-instruct,
Llama-3.1-8B with an added `<pad>`, Florence-2-large) on the meta device, so no memory is
used, and compared with `shared/reference/florence-vl-{3b,8b}.keys.tsv`, which list every
state-dict entry of the authors' own classes.
"""

from __future__ import annotations

import pytest
import torch

from model.checkpoint import to_released_state_dict
from model.modeling_florence_vl import FlorenceVLForConditionalGeneration
from model.released import florence_vl_3b_config, florence_vl_8b_config
from tests.model.conftest import REFERENCE_DIR


def read_keys(name: str) -> dict[str, tuple[int, ...]]:
    rows = (line.split("\t") for line in (REFERENCE_DIR / name).read_text().splitlines() if line)
    return {key: tuple(int(d) for d in shape.strip("[]").split(",") if d) for key, shape, _ in rows}


@pytest.mark.parametrize(
    ("build_config", "keys_file"),
    [
        (florence_vl_3b_config, "florence-vl-3b.keys.tsv"),
        (florence_vl_8b_config, "florence-vl-8b.keys.tsv"),
    ],
)
def test_released_keys_and_shapes_match_exactly(build_config, keys_file: str) -> None:
    expected = read_keys(keys_file)
    with torch.device("meta"):
        model = FlorenceVLForConditionalGeneration(build_config())
    produced = {k: tuple(t.shape) for k, t in to_released_state_dict(model.state_dict()).items()}

    assert sorted(set(expected) - set(produced)) == []  # nothing the checkpoint has is missed
    assert sorted(set(produced) - set(expected)) == []  # nothing extra is written
    wrong = {k: (produced[k], expected[k]) for k in expected if produced[k] != expected[k]}
    assert wrong == {}
    assert sum(t.numel() for t in model.state_dict().values()) < sum(
        torch.Size(s).numel() for s in expected.values()
    )  # the checkpoint stores the tied BART embedding 4 times, the model once
