"""`FlorenceVLGenerator`: the runnable model, from page images and questions to answers.

Holds the network, both tokenizers and the chat template, and does the batching around
`FlorenceVLForConditionalGeneration.generate`: each image's features are computed ONCE and
shared by every question about it; rows are batched `batch_size` at a time, grouped by image,
and each batch runs an image's prompt prefix (template markup + ~577 image tokens) once for all
its questions, reusing its KV cache; the varying rest of the prompts is LEFT padded so all rows
decode in step.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

import torch
from PIL import Image
from transformers import PreTrainedTokenizerBase

from model.chat_templates import IMAGE_PLACEHOLDER, ChatTemplate, get_chat_template
from model.checkpoint import (
    FLORENCE2_TOKENIZER_DIR,
    checkpoint_stop_ids,
    load_checkpoint,
    save_checkpoint,
)
from model.config import FlorenceVLConfig, FusionConfig
from model.decode_steps import DecodeMode
from model.feature_cache import FeatureCache, image_digest
from model.florence2_tokenizer import load_florence2_tokenizer
from model.image_processing import preprocess_images
from model.llm_tokenizer import load_llm_tokenizer
from model.modeling_florence_vl import FlorenceVLForConditionalGeneration, GenerationOutput

logger = logging.getLogger(__name__)

# Pages whose projected features stay in memory: (577, H) each, 3.5 MB in bf16 for the 3B.
FEATURE_CACHE_PAGES = 32


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding options. The reference uses greedy (or temperature 0.2) and up to 512 tokens.
    `decode`: how new tokens are fed back (`model/decode_steps.py`); it changes speed only."""

    max_new_tokens: int = 128
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    use_cache: bool = True
    decode: DecodeMode = "auto"


class _DecodingOptions(TypedDict):
    """The keyword arguments `_generate` passes to every `generate` call."""

    stop_token_ids: list[int]
    pad_token_id: int
    max_new_tokens: int
    do_sample: bool
    temperature: float
    top_p: float
    generator: torch.Generator | None
    use_cache: bool
    decode: DecodeMode


@dataclass(frozen=True)
class GeneratedAnswer:
    """`confidence`: mean probability of the generated tokens, stop token included."""

    text: str
    token_ids: tuple[int, ...]
    confidence: float


class FlorenceVLGenerator:
    """Florence-VL with its tokenizers; see `docs/model.md`."""

    def __init__(
        self,
        model: FlorenceVLForConditionalGeneration,
        llm_tokenizer: PreTrainedTokenizerBase,
        florence2_tokenizer: PreTrainedTokenizerBase,
        *,
        directory: Path | None = None,
        stop_ids: Sequence[int] = (),
        feature_cache_pages: int = FEATURE_CACHE_PAGES,
    ) -> None:
        """`stop_ids`: more tokens that end an answer (a checkpoint's `generation_config.json`
        list), besides the template's separator and the tokenizer's EOS.
        `feature_cache_pages`: how many pages' image features to keep (0: none)."""
        self.model = model.eval()
        self.directory = directory  # where it was loaded from, if it was
        self.feature_cache = FeatureCache(feature_cache_pages)
        self.llm_tokenizer = llm_tokenizer
        self.florence2_tokenizer = florence2_tokenizer
        self.template: ChatTemplate = get_chat_template(model.config.chat_template)
        model.set_prompts(florence2_tokenizer)
        self.pad_token_id = _first_id(llm_tokenizer, ("pad_token_id", "eos_token_id"))
        # The template's separator ends an assistant turn; EOS ends the text.
        vocab = llm_tokenizer.get_vocab()
        stop_tokens = [t for t in (self.template.sep, llm_tokenizer.eos_token) if t is not None]
        if self.template.sep not in vocab:
            logger.warning("LLM tokenizer has no %r token; stopping at EOS only", self.template.sep)
        self.stop_token_ids = sorted({vocab[t] for t in stop_tokens if t in vocab} | set(stop_ids))
        if not self.stop_token_ids:
            raise ValueError(f"LLM tokenizer knows none of the stop tokens {stop_tokens}")

    @property
    def config(self) -> FlorenceVLConfig:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return self.model.projector.input_layer.weight.device

    @classmethod
    def from_pretrained(
        cls,
        id_or_path: str | os.PathLike[str],
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        fusion: FusionConfig | None = None,
        gain_profile: str | None = None,
        attn_implementation: str = "sdpa",
    ) -> FlorenceVLGenerator:
        """Load a released-layout checkpoint (local directory or hub id) and its tokenizers.

        The LLM tokenizer comes from the checkpoint directory (the slow sentencepiece one where
        it can, as the authors loaded it: `model/llm_tokenizer.py`); the Florence-2 tokenizer
        from its `florence2_tokenizer/` subdirectory when present, else from `mm_vision_tower`.
        """
        model, directory = load_checkpoint(
            id_or_path,
            device=device,
            dtype=dtype,
            fusion=fusion,
            gain_profile=gain_profile,
            attn_implementation=attn_implementation,
        )
        llm_tokenizer = load_llm_tokenizer(directory)
        florence_dir = directory / FLORENCE2_TOKENIZER_DIR
        florence2_source = florence_dir if florence_dir.is_dir() else model.config.mm_vision_tower
        florence2_tokenizer = load_florence2_tokenizer(str(florence2_source))
        return cls(
            model,
            llm_tokenizer,
            florence2_tokenizer,
            directory=directory,
            stop_ids=checkpoint_stop_ids(directory),
        )

    def _image_features(
        self, images: Sequence[Image.Image], used: list[int], batch_size: int
    ) -> dict[int, torch.Tensor]:
        """(T, H) features of each used image: cached ones, the rest through the tower."""
        keys = {i: image_digest(images[i]) for i in used}
        features = {i: f for i in used if (f := self.feature_cache.get(keys[i])) is not None}
        todo = [i for i in used if i not in features]
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            pixel_values = self.preprocess([images[i] for i in chunk])
            image_features = self.model.get_image_features(pixel_values)  # (b, T, H)
            for i, row in zip(chunk, image_features, strict=True):
                features[i] = row
                self.feature_cache.put(keys[i], row)
        return features

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        return save_checkpoint(
            self.model,
            directory,
            llm_tokenizer=self.llm_tokenizer,
            florence2_tokenizer=self.florence2_tokenizer,
            stop_token_ids=self.stop_token_ids,
        )

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """PIL images -> (B, 3, S, S) normalised pixels in the model's dtype and device."""
        pixel_values = preprocess_images(
            list(images),
            size=self.config.image_size,
            resize_mode=self.config.resize_mode,
            device=self.device,
        )
        return pixel_values.to(self.model.projector.input_layer.weight.dtype)

    def prompt_parts(self, question: str) -> tuple[list[int], list[int]]:
        """Chat prompt ids split after the ONE `config.image_token_index` that stands for
        `<image>`: (prefix, suffix). The prefix (system and user markup, then the image) is
        the same for every question, which lets questions about one page share its KV cache.

        As the authors' `tokenizer_image_token`: the text either side of the placeholder is
        tokenized separately (the image never merges with neighbouring characters), and only
        the first piece gets the special tokens the tokenizer adds by itself (a BOS, for
        tokenizers that add one; with Llama-3.1 this yields the doubled `<|begin_of_text|>`
        the model was trained with, since the llama3 template also spells it out).
        """
        before, after = self.template.prompt(question).split(IMAGE_PLACEHOLDER)
        encode = self.llm_tokenizer.encode
        prefix = [*encode(before, add_special_tokens=True), self.config.image_token_index]
        return prefix, encode(after, add_special_tokens=False)

    def prompt_ids(self, question: str) -> list[int]:
        prefix, suffix = self.prompt_parts(question)
        return prefix + suffix

    @torch.inference_mode()
    def answer(
        self,
        images: Sequence[Image.Image],
        requests: Sequence[tuple[int, str]],
        *,
        settings: GenerationSettings | None = None,
        batch_size: int = 8,
    ) -> list[GeneratedAnswer]:
        """Answer `(image index, question)` requests; answers come back in request order.

        Vision features are computed once per image used (in chunks of `batch_size` images),
        or taken from the feature cache for a page seen recently, and reused by every
        question about that image. Rows are batched grouped by image, and
        with the KV cache on, each batch runs an image's prompt prefix once for all its rows.
        """
        settings = settings or GenerationSettings()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        bad = [i for i, _ in requests if not 0 <= i < len(images)]
        if bad:
            raise ValueError(f"requests name images {bad}, but {len(images)} images were given")
        features = self._image_features(images, sorted({i for i, _ in requests}), batch_size)
        generator = None
        if settings.do_sample:
            generator = torch.Generator(device=self.device).manual_seed(settings.seed)
        order = sorted(range(len(requests)), key=lambda r: requests[r][0])
        answers: dict[int, GeneratedAnswer] = {}
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            output = self._generate([requests[r] for r in batch], features, settings, generator)
            answers.update(zip(batch, self._decode(output), strict=True))
        return [answers[r] for r in range(len(requests))]

    def _generate(
        self,
        batch: list[tuple[int, str]],
        features: dict[int, torch.Tensor],
        settings: GenerationSettings,
        generator: torch.Generator | None,
    ) -> GenerationOutput:
        options = _DecodingOptions(
            stop_token_ids=self.stop_token_ids,
            pad_token_id=self.pad_token_id,
            max_new_tokens=settings.max_new_tokens,
            do_sample=settings.do_sample,
            temperature=settings.temperature,
            top_p=settings.top_p,
            generator=generator,
            use_cache=settings.use_cache,
            decode=settings.decode,
        )
        if not settings.use_cache:  # whole prompts, recomputed at every step
            input_ids, attention_mask = self.batch_prompts([self.prompt_ids(q) for _, q in batch])
            image_features = torch.stack([features[i] for i, _ in batch])  # (B, T, H)
            return self.model.generate(
                input_ids, attention_mask, image_features=image_features, **options
            )
        parts = [self.prompt_parts(q) for _, q in batch]
        images = sorted({i for i, _ in batch})
        prefix_ids, _ = self.batch_prompts([parts[0][0]] * len(images))  # (U, P), no padding
        rows = torch.tensor([images.index(i) for i, _ in batch], device=self.device)
        cache = self.model.prefill_prefix(
            prefix_ids, torch.stack([features[i] for i in images]), rows
        )
        suffix_ids, suffix_mask = self.batch_prompts([suffix for _, suffix in parts])
        # Padding sits between the prefix and each row's suffix; positions skip it.
        prefix_mask = suffix_mask.new_ones(len(batch), prefix_ids.shape[1])
        attention_mask = torch.cat([prefix_mask, suffix_mask], dim=1)
        return self.model.generate(
            suffix_ids, attention_mask, image_features=None, cache=cache, **options
        )

    def batch_prompts(self, prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Expand each `<image>` to `config.image_tokens` positions and left-pad the batch."""
        image_index, image_tokens = self.config.image_token_index, self.config.image_tokens
        rows = [
            [
                t
                for token in ids
                for t in ([token] * image_tokens if token == image_index else [token])
            ]
            for ids in prompts
        ]
        width = max(len(row) for row in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            input_ids[r, width - len(row) :] = torch.tensor(row)
            attention_mask[r, width - len(row) :] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    def _decode(self, output: GenerationOutput) -> list[GeneratedAnswer]:
        answers = []
        for sequence, probs, length in zip(
            output.sequences.tolist(), output.token_probs, output.lengths.tolist(), strict=True
        ):
            ids = sequence[:length]
            text_ids = [t for t in ids if t not in self.stop_token_ids]
            # One id list decodes to one string; decode's str | list[str] also covers batches.
            text = cast(str, self.llm_tokenizer.decode(text_ids, skip_special_tokens=True)).strip()
            confidence = float(probs[:length].mean()) if length else 0.0
            answers.append(GeneratedAnswer(text=text, token_ids=tuple(ids), confidence=confidence))
        return answers


def _first_id(tokenizer: PreTrainedTokenizerBase, attributes: tuple[str, ...]) -> int:
    for attribute in attributes:
        value = getattr(tokenizer, attribute, None)
        if value is not None:
            return int(value)
    raise ValueError(f"tokenizer has none of {attributes}")
