"""bench/gpu.py --smoke: the GPU benchmark's own code, tiny and on the CPU, so that the
script is known to run the day a GPU is at hand: under the pinned transformers and under the
release GPU images carry (5.17, installed beside it by `make test`), whose LLMs take their KV
cache under another keyword."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import transformers

from tests.conftest import REPO_ROOT

SUMMARY_KEYS = {
    "device", "pages_per_s", "batch", "vision_naive_over_fused", "prefill_ms_per_page",
    "decode_ms_per_token", "peak_memory_gib",
}  # fmt: skip
GPU_TRANSFORMERS = Path(sys.prefix) / "transformers-5.17"  # see the Makefile


@pytest.mark.parametrize(
    ("transformers_path", "version"),
    [("", transformers.__version__), (str(GPU_TRANSFORMERS), "5.17.0")],
    ids=["pinned", "gpu-image"],
)
def test_the_gpu_benchmark_runs_every_stage_and_ends_with_its_summary(
    transformers_path: str, version: str
) -> None:
    if transformers_path:
        assert GPU_TRANSFORMERS.is_dir(), f"{GPU_TRANSFORMERS} is missing: run `make test`"
    result = subprocess.run(
        [sys.executable, "bench/gpu.py", "--smoke"],
        cwd=REPO_ROOT,
        env=os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [transformers_path, "."]))},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    stages = [line.get("stage") for line in lines[:-1]]
    assert stages == [
        "build", "vision", "vision", "end_to_end", "end_to_end", "split",
        "decode_modes", "decode_modes", "consistency", "training",
    ]  # fmt: skip
    assert not any("error" in line for line in lines)
    summary = lines[-1]
    assert set(summary) >= SUMMARY_KEYS and summary["device"] == "cpu"
    assert summary["transformers"] == version
    assert summary["pages_per_s"] > 0 and summary["batch"] in (1, 2)
    assert summary["vision_naive_over_fused"] > 1  # the fused tower does less work
    assert summary["prefill_ms_per_page"] > 0 and summary["decode_ms_per_token"] > 0
    assert summary["decode_modes_agree_with_no_cache"] is True
    assert summary["graph_capture_failures"] == 0
    assert summary["training_steps_per_s"] > 0 and summary["training_batch"] == 2
