# ruff: noqa: E402 (the import path is fixed first, see below)
"""Feature-cache benchmark: a second question about a page against the first, at
Florence-2-large size on the CPU.

Run from the repository root:  .venv/bin/python bench/feature_cache.py [--repeats 3]

Builds Florence-VL with Florence-2-large's vision tower (DaViT 256/512/1024/2048, BART
encoder 12 layers, d_model 1024) and random weights, and the tiny LLM (the answer is a few
tokens either way, so the LLM barely counts), then times `FlorenceVLGenerator.answer` on one
receipt page: a first question (the tower runs), a second question about the same page (its
projected features come from the cache), and the second question again with the cache off.
Prints the medians and the ratios measured in this one run.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import dataclasses
import platform
import statistics
import time

import torch
from PIL import Image

from model.florence2_keys import FLORENCE2_LARGE_ORIGINAL_CONFIG
from model.florence2_tokenizer import build_offline_florence2_tokenizer
from model.generation import FlorenceVLGenerator, GenerationSettings
from model.modeling_florence_vl import FlorenceVLForConditionalGeneration
from model.tiny import build_tiny_llm_tokenizer, tiny_config

PAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sroie-dev" / "images" / "000.jpg"
SETTINGS = GenerationSettings(max_new_tokens=8)


def large_tower_generator(feature_cache_pages: int) -> FlorenceVLGenerator:
    llm_tokenizer = build_tiny_llm_tokenizer("phi3")
    config = dataclasses.replace(
        tiny_config("phi3", llm_tokenizer),
        florence2_config=FLORENCE2_LARGE_ORIGINAL_CONFIG,
        mm_hidden_size=FLORENCE2_LARGE_ORIGINAL_CONFIG["vision_config"]["projection_dim"],
    )
    torch.manual_seed(0)
    model = FlorenceVLForConditionalGeneration(config)
    return FlorenceVLGenerator(
        model,
        llm_tokenizer,
        build_offline_florence2_tokenizer(),
        feature_cache_pages=feature_cache_pages,
    )


def seconds(generator: FlorenceVLGenerator, page: Image.Image, question: str) -> float:
    start = time.perf_counter()
    generator.answer([page], [(0, question)], settings=SETTINGS)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    threads = torch.get_num_threads()
    print(f"machine: {platform.platform()}, torch {torch.__version__}, {threads} threads")
    generator = large_tower_generator(feature_cache_pages=32)
    page = Image.open(PAGE).convert("RGB")
    seconds(generator, page, "warm-up")
    first, second, uncached = [], [], []
    for _ in range(repeats):
        generator.feature_cache.clear()
        first.append(seconds(generator, page, "What is the total?"))
        second.append(seconds(generator, page.copy(), "What is the date?"))
        generator.feature_cache.clear()
        uncached.append(seconds(generator, page, "What is the date?"))
    f, s, u = (statistics.median(times) for times in (first, second, uncached))
    print(
        f"Florence-2-large tower, tiny LLM, CPU, median of {repeats}: first question on a page "
        f"{f:.2f} s; second question, features cached {s:.3f} s; second question without the "
        f"cache {u:.2f} s; the cache makes the second question {u / s:.0f}x faster "
        f"({s / f:.3f} of the first)"
    )


if __name__ == "__main__":
    main()
