# ruff: noqa: E402 (the import path is fixed first, see below)
"""Vision benchmark: Florence-VL's V + V' the reference way (naive) against the fused tower.

Run from the repository root:  .venv/bin/python bench/vision.py [--pages 2] [--device cuda
--dtype bfloat16]

Builds Florence-2-large's dimensions (DaViT 256/512/1024/2048, depths 1/1/9/1; BART encoder and
decoder 12 layers, d_model 1024) with random weights, then times, on the same batch of pages:
* naive: the reference's cost as FLORENCE_VL.md models it, a full Florence-2 pass per prompt
  (DaViT, 12-layer encoder over 577 + L tokens, one decoder step), three prompts;
* fused: ``FlorenceVisionTower.forward``, DaViT once per page and the B*3 prompt sequences in
  one encoder batch, no decoder.
Both produce the same features (the max difference is printed). ``--warmup`` runs of the fused
path (the same modules as the naive one, at a third of its cost) come first; times are the
median of ``--repeats`` runs of each path; peak memory is the process's resident-set growth
during a run on the CPU (sampled from /proc every 5 ms, after handing freed heap memory back
to the OS with glibc's malloc_trim) or ``torch.cuda.max_memory_allocated`` on a GPU.
docs/benchmarks.md records a run and what "naive" stands for.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder would come first on the import path, where bench/queue.py
# would shadow the standard library's `queue`: the repository root goes there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import ctypes
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable

import torch

from model.florence2_keys import (
    FLORENCE2_LARGE_ORIGINAL_CONFIG,
    florence2_config_from_original,
)
from model.florence2_tokenizer import build_offline_florence2_tokenizer, tokenize_prompts
from model.vision_tower import FLORENCE_VL_PROMPTS, FlorenceVisionTower, VisionFeatures

IMAGE_SIZE = 768
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE_BYTES


def _return_freed_memory() -> None:
    """glibc keeps freed tensor memory mapped, which would hide a later run's growth in RSS."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """Peak memory above the starting level while the block runs, in bytes."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            _return_freed_memory()
            self._start = _rss_bytes()
            self._highest = self._start
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self._highest = max(self._highest, _rss_bytes())

    def __exit__(self, *exc_info: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._start
        else:
            self._stop.set()
            self._sampler.join()
            self.peak = max(self._highest, _rss_bytes()) - self._start


def build_tower(device: torch.device, dtype: torch.dtype) -> FlorenceVisionTower:
    config = florence2_config_from_original(FLORENCE2_LARGE_ORIGINAL_CONFIG)
    torch.manual_seed(0)
    with device:
        tower = FlorenceVisionTower(config)
    tower = tower.to(dtype=dtype).eval()
    input_ids, attention_mask = tokenize_prompts(
        build_offline_florence2_tokenizer(), list(FLORENCE_VL_PROMPTS.values())
    )
    tower.set_prompts(input_ids, attention_mask)
    return tower


def time_runs(
    run: Callable[[], VisionFeatures], device: torch.device, repeats: int
) -> tuple[float, int, VisionFeatures]:
    """Median seconds over ``repeats`` runs, the largest peak memory, and the last output."""
    seconds, peaks = [], []
    for _ in range(repeats):
        with PeakMemory(device) as memory:
            start = time.perf_counter()
            output = run()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds.append(time.perf_counter() - start)
        peaks.append(memory.peak)
    return statistics.median(seconds), max(peaks), output


def print_machine(device: torch.device) -> None:
    print(
        f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    if device.type == "cuda":
        print(f"GPU: {torch.cuda.get_device_name(device)}")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2, help="page images per batch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    print_machine(device)

    start = time.perf_counter()
    tower = build_tower(device, dtype)
    parameters = sum(p.numel() for p in tower.parameters()) / 1e6
    prompt_shape = tuple(tower.prompt_input_ids.shape)
    print(
        f"Florence-2-large, random weights, {parameters:.0f}M parameters, built in "
        f"{time.perf_counter() - start:.1f} s; prompts (P, L) = {prompt_shape}"
    )
    generator = torch.Generator().manual_seed(0)
    pixel_values = torch.randn(args.pages, 3, IMAGE_SIZE, IMAGE_SIZE, generator=generator)
    pixel_values = pixel_values.to(device=device, dtype=dtype)

    with torch.inference_mode():
        for _ in range(args.warmup):
            tower(pixel_values)
        naive_s, naive_peak, naive = time_runs(
            lambda: tower.forward_naive(pixel_values), device, args.repeats
        )
        fused_s, fused_peak, fused = time_runs(lambda: tower(pixel_values), device, args.repeats)
    difference = (fused.prompts.float() - naive.prompts.float()).abs().max().item()
    mib = 2**20
    print(
        f"{args.pages} pages, {args.dtype} on {device}, median of {args.repeats} after "
        f"{args.warmup} fused warm-up"
    )
    print(
        f"naive (per-prompt passes): {naive_s:.2f} s, {naive_s / args.pages:.2f} s/page, "
        f"peak memory +{naive_peak / mib:.0f} MiB"
    )
    print(
        f"fused:                     {fused_s:.2f} s, {fused_s / args.pages:.2f} s/page, "
        f"peak memory +{fused_peak / mib:.0f} MiB"
    )
    print(
        f"speed-up naive/fused: {naive_s / fused_s:.2f}x; max |V'_fused - V'_naive| = "
        f"{difference:.2e}; V {tuple(fused.low_level.shape)}, V' {tuple(fused.prompts.shape)}"
    )


if __name__ == "__main__":
    main()
