"""Florence-2's own tasks (OCR with regions, detection, phrase grounding) for grounding answers.

The Florence-VL checkpoints carry Florence-2's decoder, so the same weights can locate text
lines and phrases on a page. Task tokens such as ``<OCR>`` are not vocabulary: Florence-2's
processor replaces them with a natural-language prompt, which is what the model was trained on
(table below, from transformers' ``processing_florence2.py``). Locations come back as
``<loc_N>`` tokens, 1000 bins per axis of the image the model saw.

Results are plain dataclasses with coordinates normalised to 0..1 of the original image;
model/ knows nothing of pages, so mapping onto a page is the caller's job.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor
from transformers import (
    Florence2ForConditionalGeneration,
    GenerationConfig,
    PreTrainedTokenizerFast,
)

from model.florence2_tokenizer import NUM_LOCATION_BINS, tokenize_prompts
from model.image_processing import ResizeMode, square_padding
from model.vision_tower import embed_prompt_tokens, florence2_text_config

logger = logging.getLogger(__name__)

TaskOutput = Literal["text", "boxes", "quads"]
UnitMapping = Callable[[int, int], tuple[float, float]]


@dataclass(frozen=True)
class Florence2Task:
    """A task token's prompt (``{input}`` marks the user text) and the shape of its answer."""

    prompt: str
    output: TaskOutput

    @property
    def needs_text(self) -> bool:
        return "{input}" in self.prompt


FLORENCE2_TASKS: dict[str, Florence2Task] = {
    "<OCR>": Florence2Task("What is the text in the image?", "text"),
    "<OCR_WITH_REGION>": Florence2Task("What is the text in the image, with regions?", "quads"),
    "<CAPTION>": Florence2Task("What does the image describe?", "text"),
    "<DETAILED_CAPTION>": Florence2Task("Describe in detail what is shown in the image.", "text"),
    "<MORE_DETAILED_CAPTION>": Florence2Task(
        "Describe with a paragraph what is shown in the image.", "text"
    ),
    "<OD>": Florence2Task("Locate the objects with category name in the image.", "boxes"),
    "<DENSE_REGION_CAPTION>": Florence2Task(
        "Locate the objects in the image, with their descriptions.", "boxes"
    ),
    "<REGION_PROPOSAL>": Florence2Task("Locate the region proposals in the image.", "boxes"),
    "<CAPTION_TO_PHRASE_GROUNDING>": Florence2Task(
        "Locate the phrases in the caption: {input}", "boxes"
    ),
}

# Locations per item: a box is x1 y1 x2 y2, an OCR line a quadrilateral of four (x, y) points.
_LOCATIONS_PER_ITEM = {"boxes": 4, "quads": 8}
_LOCATION = re.compile(r"<loc_(\d+)>")
# Sequence markers the original post-processor removes before parsing, and markup that can sit
# between a label and its locations.
_SEQUENCE_MARKERS = ("<s>", "</s>", "<pad>")
_MARKUP = re.compile(r"</?(?:od|ocr|ground|obj|box|bbox|poly|sep|and)>")


@dataclass(frozen=True)
class Located:
    """One located item, coordinates normalised to 0..1 of the original image.

    box: (x0, y0, x1, y1) with x0 <= x1, y0 <= y1 (for a quad, its bounding box).
    quad: for OCR lines, the four (x, y) corners in generation order; None for boxes.
    """

    label: str
    box: tuple[float, float, float, float]
    quad: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class TaskResult:
    """A task's answer for one image: the cleaned text, located items, and whether it was cut.

    ``truncated`` means the answer hit the token limit or ended inside an item; the incomplete
    item is dropped, the complete ones are kept.
    """

    task: str
    text: str
    items: tuple[Located, ...]
    truncated: bool


def task_prompt(task: str, text: str | None = None) -> str:
    """The natural-language prompt Florence-2 was trained on for ``task`` (and its input text)."""
    spec = _task(task)
    if not spec.needs_text:
        if text:
            raise ValueError(f"task {task} takes no text, got {text!r}")
        return spec.prompt
    if not text:
        raise ValueError(f"task {task} needs text, got {text!r}")
    return spec.prompt.format(input=text.strip())


def parse_locations(
    text: str,
    task: str,
    image_size: tuple[int, int] | None = None,
    *,
    resize_mode: ResizeMode = "stretch",
) -> TaskResult:
    """Parse a decoded Florence-2 answer into labelled boxes or OCR quads.

    A box is ``label<loc_x1><loc_y1><loc_x2><loc_y2>`` (more groups of four after one label are
    more boxes for it); an OCR line is its text and eight locations. Bin b maps to the centre of
    its bin, (b + 0.5) / 1000 of the axis. With ``resize_mode="pad"`` the model saw the image
    centred in a mean-colour square (``preprocess_images``), so ``image_size`` (width, height)
    is needed to map back onto the image; with ``"stretch"`` (Florence-2's own preprocessing)
    bins are already per image axis.
    """
    spec = _task(task)
    for marker in _SEQUENCE_MARKERS:
        text = text.replace(marker, "")
    if spec.output == "text":
        return TaskResult(task=task, text=text.strip(), items=(), truncated=False)
    to_unit = _unit_mapping(image_size, resize_mode)
    group_size = _LOCATIONS_PER_ITEM[spec.output]
    items: list[Located] = []
    label, position = "", 0
    bins: list[int] = []
    for match in _LOCATION.finditer(text):
        chunk = _MARKUP.sub("", text[position : match.start()]).strip()
        position = match.end()
        if chunk:
            if bins:
                logger.debug("dropping %d stray locations before %r", len(bins), chunk)
            label, bins = chunk, []
        bins.append(int(match.group(1)))
        if len(bins) == group_size:
            items.append(_located(label, bins, to_unit))
            bins = []
            if spec.output == "quads":
                label = ""  # each OCR line carries its own text
    # Anything after the last complete item (text awaiting its locations, a location token cut
    # off as in "<loc_1") means the answer stopped inside an item.
    tail = _MARKUP.sub("", text[position:]).strip()
    truncated = bool(bins) or bool(tail)
    if truncated:
        logger.debug("answer ends inside an item (%d locations, tail %r)", len(bins), tail)
    return TaskResult(task=task, text=text.strip(), items=tuple(items), truncated=truncated)


@torch.inference_mode()
def run_task(
    florence2: Florence2ForConditionalGeneration,
    tokenizer: PreTrainedTokenizerFast,
    pixel_values: Tensor,
    task: str,
    text: str | None = None,
    *,
    max_new_tokens: int = 1023,
    num_beams: int = 3,
    no_repeat_ngram_size: int = 3,
    image_sizes: Sequence[tuple[int, int]] | None = None,
    resize_mode: ResizeMode = "stretch",
) -> list[TaskResult]:
    """Run a Florence-2 task on (B, 3, H, W) pixel values with the native generate; one result each.

    The encoder input is built as the original does (image tokens then ``<s> prompt </s>``) and
    passed to ``generate`` as encoder outputs, so no ``<image>`` placeholder token is needed.
    Generation defaults are those of the original checkpoints' BART config (3 beams, no
    repeated 3-grams, early stopping, BOS forced first and EOS last), which the original
    generate inherited; transformers 5 no longer keeps them on the model config. The decoder
    holds ``max_position_embeddings`` tokens including its start token, hence at most 1023 new.
    """
    prompt = task_prompt(task, text)
    text_config = florence2_text_config(florence2.config)
    limit = text_config.max_position_embeddings - 1
    if not 0 < max_new_tokens <= limit:
        raise ValueError(
            f"max_new_tokens must be in 1..{limit} for this decoder, got {max_new_tokens}"
        )
    batch_size = pixel_values.shape[0]
    if image_sizes is not None and len(image_sizes) != batch_size:
        raise ValueError(f"got {len(image_sizes)} image sizes for {batch_size} images")
    input_ids, _ = tokenize_prompts(tokenizer, [prompt])  # (1, L)
    image_features = florence2.model.get_image_features(pixel_values).pooler_output  # (B, N, C)
    prompt_embeds = embed_prompt_tokens(florence2, input_ids.to(image_features.device))
    prompt_embeds = prompt_embeds.to(image_features.dtype).expand(batch_size, -1, -1)  # (B, L, C)
    inputs_embeds = torch.cat([image_features, prompt_embeds], dim=1)  # (B, N + L, C)
    encoder_outputs = florence2.model.language_model.encoder(inputs_embeds=inputs_embeds)
    generation_config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        do_sample=False,
        early_stopping=num_beams > 1,
        no_repeat_ngram_size=no_repeat_ngram_size,
        decoder_start_token_id=text_config.decoder_start_token_id,
        bos_token_id=text_config.bos_token_id,
        eos_token_id=text_config.eos_token_id,
        pad_token_id=text_config.pad_token_id,
        forced_bos_token_id=text_config.bos_token_id,
        forced_eos_token_id=text_config.eos_token_id,
    )
    sequences = florence2.generate(
        encoder_outputs=encoder_outputs, generation_config=generation_config
    )  # (B, 1 + T): decoder start token, then the answer
    at_limit = (sequences[:, 1:] != text_config.pad_token_id).sum(dim=1) >= max_new_tokens
    answers = tokenizer.batch_decode(
        sequences, skip_special_tokens=False, clean_up_tokenization_spaces=False
    )
    results = []
    for index, answer in enumerate(answers):
        size = image_sizes[index] if image_sizes is not None else None
        parsed = parse_locations(answer, task, size, resize_mode=resize_mode)
        if at_limit[index]:
            parsed = TaskResult(parsed.task, parsed.text, parsed.items, truncated=True)
        results.append(parsed)
    return results


def _task(task: str) -> Florence2Task:
    if task not in FLORENCE2_TASKS:
        raise ValueError(f"unknown Florence-2 task {task!r}; known: {', '.join(FLORENCE2_TASKS)}")
    return FLORENCE2_TASKS[task]


def _unit_mapping(image_size: tuple[int, int] | None, resize_mode: ResizeMode) -> UnitMapping:
    """A function (x_bin, y_bin) -> (x, y) in 0..1 of the original image."""
    if resize_mode == "stretch":
        return lambda x_bin, y_bin: (
            (x_bin + 0.5) / NUM_LOCATION_BINS,
            (y_bin + 0.5) / NUM_LOCATION_BINS,
        )
    if resize_mode != "pad":
        raise ValueError(f"resize_mode must be 'pad' or 'stretch', got {resize_mode!r}")
    if image_size is None or min(image_size) <= 0:
        raise ValueError(
            f"resize_mode='pad' needs the image size (width, height), got {image_size}"
        )
    width, height = image_size
    side, left, top = square_padding(width, height)

    def to_unit(x_bin: int, y_bin: int) -> tuple[float, float]:
        x = ((x_bin + 0.5) * side / NUM_LOCATION_BINS - left) / width
        y = ((y_bin + 0.5) * side / NUM_LOCATION_BINS - top) / height
        return min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)

    return to_unit


def _located(label: str, bins: list[int], to_unit: UnitMapping) -> Located:
    points = tuple(to_unit(x, y) for x, y in zip(bins[0::2], bins[1::2], strict=True))
    xs, ys = [x for x, _ in points], [y for _, y in points]
    box = (min(xs), min(ys), max(xs), max(ys))
    return Located(label=label, box=box, quad=points if len(points) == 4 else None)
