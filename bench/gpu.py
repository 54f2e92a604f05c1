# ruff: noqa: E402 (the import path is fixed first, see below)
"""GPU benchmark: Florence-VL 3B (Florence-2-large tower + Phi-3.5-mini sizes) with random
weights, in bf16 on one CUDA device.

Run from the repository root on a GPU machine with only its own Python packages:

    PYTHONPATH=. python3 bench/gpu.py            # under 5 minutes
    PYTHONPATH=. python3 bench/gpu.py --smoke    # the same code, tiny and on the CPU (tests)

Stages, each with its own time budget, each failing alone (its error is printed and the
others still report):
1. vision: the tower the reference way (a Florence-2 pass per prompt) against the fused
   tower, at batch sizes 1 to 32 pages;
2. end to end: pages/s answering 3 questions per page with 32 new tokens per answer (end
   tokens ignored, so every answer has the same length) at several batch sizes, features
   cache off;
3. prefill and decode: the LLM alone (image features cached) on the best batch, with 1
   new token and with 32, gives the prefill time per page and the decode time per token;
4. decode modes: the same split for each way of feeding tokens back (a growing cache, a
   static cache, the static cache's step replayed as a CUDA graph), and how often their
   answers agree (random bf16 weights give near-ties, so a few differ without a fault);
5. consistency: the tiny model in float32 on the same device answers the same in every
   decode mode as with no cache at all, so the fast paths are known to be right there;
6. training: fine-tuning steps as `docfuse finetune` takes them (LoRA rank 64 on the LLM,
   the projector and the fusion gains trainable, the tower frozen, gradient checkpointing,
   bf16) on batches of 4 pages: steps/s and peak memory. It runs last, since it attaches
   LoRA to the model, and imports peft inside the stage, so without peft only it fails.
Peak memory is `torch.cuda.max_memory_allocated`. Every result is printed as a JSON line
as it comes; the last line is the summary, with the device's name: record it in
docs/benchmarks.md with the command.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder would come first on the import path, where bench/queue.py
# would shadow the standard library's `queue`: the repository root goes there instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import dataclasses
import json
import logging
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch
import transformers
from PIL import Image

from model.decode_steps import DecodeMode
from model.feature_cache import FeatureCache
from model.florence2_tokenizer import build_offline_florence2_tokenizer
from model.generation import FlorenceVLGenerator, GeneratedAnswer, GenerationSettings
from model.modeling_florence_vl import FlorenceVLForConditionalGeneration
from model.released import florence_vl_3b_config
from model.tiny import build_tiny_llm_tokenizer, build_tiny_random, tiny_random_generator

QUESTIONS = ("What is the total?", "What is the date?", "Who issued this document?")
NEW_TOKENS = 32


@dataclasses.dataclass(frozen=True)
class Plan:
    device: torch.device
    dtype: torch.dtype
    vision_batches: tuple[int, ...]
    page_batches: tuple[int, ...]
    budget_s: dict[str, float]
    lora_rank: int
    training_batch: int


FULL = Plan(
    torch.device("cuda"),
    torch.bfloat16,
    (1, 2, 4, 8, 16, 32),
    (1, 4, 8, 16, 32, 48),
    {"vision": 70.0, "end_to_end": 120.0, "split": 40.0, "decode_modes": 60.0, "consistency": 30.0,
     "training": 90.0},
    lora_rank=64,
    training_batch=4,
)  # fmt: skip
SMOKE = Plan(
    torch.device("cpu"),
    torch.float32,
    (1, 2),
    (1, 2),
    {"vision": 30, "end_to_end": 30, "split": 30, "decode_modes": 30, "consistency": 30,
     "training": 30},
    lora_rank=4,
    training_batch=2,
)  # fmt: skip


def report(**figures: Any) -> None:
    print(json.dumps(figures), flush=True)


def build(plan: Plan, smoke: bool) -> FlorenceVLGenerator:
    """The 3B architecture (or the tiny one) with random weights on the plan's device."""
    if smoke:
        model, tokenizers = build_tiny_random("phi3")
        llm, florence2 = tokenizers.llm, tokenizers.florence2
    else:
        llm, florence2 = build_tiny_llm_tokenizer("phi3"), build_offline_florence2_tokenizer()
        config = florence_vl_3b_config()  # token ids of the small tokenizer fit its vocabulary
        torch.manual_seed(0)
        previous = torch.get_default_dtype()
        torch.set_default_dtype(plan.dtype)
        try:
            with plan.device:
                model = FlorenceVLForConditionalGeneration(config)
        finally:
            torch.set_default_dtype(previous)
    model = model.to(device=plan.device, dtype=plan.dtype).eval()
    generator = FlorenceVLGenerator(model, llm, florence2, feature_cache_pages=0)
    generator.stop_token_ids = [-1]  # no token ends an answer: every one is NEW_TOKENS long
    return generator


def synchronize(plan: Plan) -> None:
    if plan.device.type == "cuda":
        torch.cuda.synchronize(plan.device)


def timed(plan: Plan, run: Callable[[], object]) -> float:
    synchronize(plan)
    start = time.perf_counter()
    run()
    synchronize(plan)
    return time.perf_counter() - start


def within_budget(
    plan: Plan, stage: str, sizes: tuple[int, ...], measure: Callable[[int], None]
) -> None:
    """Measure each size in turn until the stage's budget is spent; an error ends the stage
    alone (printed), never the script."""
    started = time.perf_counter()
    for size in sizes:
        if time.perf_counter() - started > plan.budget_s[stage]:
            report(stage=stage, skipped_from=size, reason="time budget spent")
            return
        try:
            measure(size)
        except Exception as error:  # a stage's failure (e.g. out of memory) is its own
            report(stage=stage, size=size, error=f"{type(error).__name__}: {error}")
            traceback.print_exc()
            return


def pages_for(count: int) -> list[Image.Image]:
    return [Image.new("RGB", (850, 1100), (255 - 7 * i % 50, 250, 245)) for i in range(count)]


def vision_stage(plan: Plan, generator: FlorenceVLGenerator, summary: dict) -> None:
    tower = generator.model.vision_tower
    size = generator.config.image_size

    def measure(batch: int) -> None:
        pixels = torch.randn(batch, 3, size, size, device=plan.device, dtype=plan.dtype)
        with torch.inference_mode():
            tower(pixels), tower.forward_naive(pixels)  # warm-up
            fused = timed(plan, lambda: tower(pixels))
            naive = timed(plan, lambda: tower.forward_naive(pixels))
        summary["vision_naive_over_fused"] = round(naive / fused, 2)
        report(stage="vision", batch=batch, fused_s=round(fused, 4), naive_s=round(naive, 4),
               naive_over_fused=round(naive / fused, 2))  # fmt: skip

    within_budget(plan, "vision", plan.vision_batches, measure)


def answer(
    generator: FlorenceVLGenerator, pages: int, tokens: int, decode: DecodeMode = "auto"
) -> list[GeneratedAnswer]:
    images = pages_for(pages)
    requests = [(page, question) for page in range(pages) for question in QUESTIONS]
    settings = GenerationSettings(max_new_tokens=tokens, decode=decode)
    return generator.answer(images, requests, settings=settings, batch_size=len(requests))


def answer_seconds(
    plan: Plan, generator: FlorenceVLGenerator, pages: int, tokens: int, decode: DecodeMode = "auto"
) -> float:
    return timed(plan, lambda: answer(generator, pages, tokens, decode))


def end_to_end_stage(plan: Plan, generator: FlorenceVLGenerator, summary: dict) -> None:
    def measure(pages: int) -> None:
        answer_seconds(plan, generator, pages, NEW_TOKENS)  # warm-up
        if plan.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(plan.device)
        seconds = answer_seconds(plan, generator, pages, NEW_TOKENS)
        preprocess = timed(plan, lambda: generator.preprocess(pages_for(pages)))
        rate = pages / seconds
        if rate > summary.get("pages_per_s", 0.0):
            summary.update(pages_per_s=round(rate, 2), batch=pages)
        if plan.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(plan.device) / 2**30
            summary["peak_memory_gib"] = round(max(peak, summary["peak_memory_gib"] or 0), 2)
        report(
            stage="end_to_end",
            pages=pages,
            questions=pages * len(QUESTIONS),
            new_tokens=NEW_TOKENS,
            seconds=round(seconds, 3),
            preprocess_s=round(preprocess, 3),
            pages_per_s=round(rate, 2),
        )

    within_budget(plan, "end_to_end", plan.page_batches, measure)


def split_seconds(
    plan: Plan, generator: FlorenceVLGenerator, pages: int, decode: DecodeMode
) -> tuple[float, float]:
    """The LLM alone (the pages' image features cached), the best of 3 runs with 1 new token
    (prefill) and with NEW_TOKENS: (prefill seconds, decode seconds per token)."""

    def best(tokens: int) -> float:
        return min(answer_seconds(plan, generator, pages, tokens, decode) for _ in range(3))

    generator.feature_cache = FeatureCache(capacity=pages)
    try:
        answer_seconds(plan, generator, pages, 1)  # fills the cache
        prefill, whole = best(1), best(NEW_TOKENS)
    finally:
        generator.feature_cache = FeatureCache(capacity=0)
    return prefill, (whole - prefill) / (NEW_TOKENS - 1)


def split_stage(plan: Plan, generator: FlorenceVLGenerator, summary: dict) -> None:
    """Prefill and decode on the best batch, decoded the default way."""

    def measure(pages: int) -> None:
        prefill, per_token = split_seconds(plan, generator, pages, "auto")
        summary.update(prefill_ms_per_page=round(1000 * prefill / pages, 2),
                       decode_ms_per_token=round(1000 * per_token, 3))  # fmt: skip
        report(stage="split", pages=pages, prefill_s=round(prefill, 3),
               decode_ms_per_token=round(1000 * per_token, 3))  # fmt: skip

    within_budget(plan, "split", (summary.get("batch", plan.page_batches[0]),), measure)


def decode_modes(plan: Plan) -> tuple[DecodeMode, ...]:
    return ("dynamic", "static", "graph") if plan.device.type == "cuda" else ("dynamic", "static")


def decode_modes_stage(plan: Plan, generator: FlorenceVLGenerator, summary: dict) -> None:
    """Each decode mode's time per token on the best batch, and the share of its answers
    identical to the growing cache's."""
    pages = summary.get("batch", plan.page_batches[0])
    per_token: dict[str, float] = {}
    generator.feature_cache = FeatureCache(capacity=pages)
    reference = [a.token_ids for a in answer(generator, pages, NEW_TOKENS, "dynamic")]

    def measure(index: int) -> None:
        mode = decode_modes(plan)[index]
        per_token[mode] = split_seconds(plan, generator, pages, mode)[1]
        generator.feature_cache = FeatureCache(capacity=pages)
        answers = answer(generator, pages, NEW_TOKENS, mode)
        same = sum(a.token_ids == r for a, r in zip(answers, reference, strict=True))
        report(stage="decode_modes", mode=mode, pages=pages,
               decode_ms_per_token=round(1000 * per_token[mode], 3),
               same_answers_as_dynamic=f"{same}/{len(reference)}")  # fmt: skip

    try:
        within_budget(plan, "decode_modes", tuple(range(len(decode_modes(plan)))), measure)
    finally:
        generator.feature_cache = FeatureCache(capacity=0)
    fastest = min(per_token, key=per_token.__getitem__, default=None)
    if fastest is not None and "dynamic" in per_token:
        ratio = per_token["dynamic"] / per_token[fastest]
        summary.update(fastest_decode=fastest, dynamic_over_fastest_decode=round(ratio, 2))


def consistency_stage(plan: Plan, _generator: FlorenceVLGenerator, summary: dict) -> None:
    """The tiny model in float32 on the plan's device: every decode mode's answers must be
    those of the no-cache path, token for token."""

    def measure(_: int) -> None:
        tiny = tiny_random_generator("phi3", device=plan.device)
        images = pages_for(2)
        requests = [(page, question) for page in range(2) for question in QUESTIONS]

        def tokens(**options: Any) -> list[tuple[int, ...]]:
            settings = GenerationSettings(max_new_tokens=12, **options)
            return [a.token_ids for a in tiny.answer(images, requests, settings=settings)]

        expected = tokens(use_cache=False)
        agree = {mode: tokens(decode=mode) == expected for mode in decode_modes(plan)}
        summary["decode_modes_agree_with_no_cache"] = all(agree.values())
        report(stage="consistency", **agree)

    within_budget(plan, "consistency", (0,), measure)


TRAINING_STEPS = 5  # timed, after one warm-up step


def training_stage(plan: Plan, generator: FlorenceVLGenerator, summary: dict) -> None:
    def measure(batch: int) -> None:
        from model.finetune import FinetuneSettings, prepare_training, training_step
        from model.training import Conversation

        settings = FinetuneSettings(
            lora_rank=plan.lora_rank, batch_size=batch, gradient_checkpointing=True
        )
        pages = pages_for(batch)
        examples = [Conversation(page, QUESTIONS[i % 3], "12.50") for i, page in enumerate(pages)]
        optimizer = prepare_training(generator, settings)
        training_step(generator, optimizer, examples)  # warm-up
        if plan.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(plan.device)

        def steps() -> None:
            for _ in range(TRAINING_STEPS):
                training_step(generator, optimizer, examples)

        seconds = timed(plan, steps)
        figures = {"training_steps_per_s": round(TRAINING_STEPS / seconds, 3)}
        if plan.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(plan.device) / 2**30
            figures["training_peak_memory_gib"] = round(peak, 2)
        summary.update(figures, training_batch=batch, training_lora_rank=plan.lora_rank)
        report(stage="training", batch=batch, lora_rank=plan.lora_rank, **figures)

    within_budget(plan, "training", (plan.training_batch,), measure)


class CaptureFailures(logging.Handler):
    """Counts decode steps that could not be captured as CUDA graphs (they ran eagerly)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny model on the CPU")
    smoke = parser.parse_args().smoke
    plan = SMOKE if smoke else FULL
    device_name = torch.cuda.get_device_name(plan.device) if plan.device.type == "cuda" else "cpu"
    summary: dict[str, Any] = {
        "device": device_name,
        "dtype": str(plan.dtype).split(".")[-1],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "attention": "sdpa",
        "decode": "graph" if plan.device.type == "cuda" else "dynamic",
        "peak_memory_gib": None,  # measured on CUDA only
    }
    capture_failures = CaptureFailures()
    logging.getLogger("model.decode_steps").addHandler(capture_failures)
    started = time.perf_counter()
    generator = build(plan, smoke)
    parameters = sum(p.numel() for p in generator.model.parameters()) / 1e9
    report(stage="build", parameters_b=round(parameters, 3),
           seconds=round(time.perf_counter() - started, 1), device=device_name)  # fmt: skip
    stages = (
        vision_stage, end_to_end_stage, split_stage, decode_modes_stage, consistency_stage,
        training_stage,
    )  # fmt: skip
    for stage in stages:
        stage(plan, generator, summary)
    summary["graph_capture_failures"] = capture_failures.count
    summary["total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
