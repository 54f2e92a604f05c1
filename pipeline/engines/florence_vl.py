"""The `florence-vl` engine: pages + questions -> answers with the Florence-VL model (`model/`).

torch, transformers and `model/` are imported when an engine is built, not when this module is
imported, so `import pipeline.engines` stays light for processes that never load a model.
Boxes are left empty: grounding answer text on the page is engine-independent and happens
downstream.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from pipeline.engines.base import (
    Answer,
    Engine,
    EngineOutput,
    EngineRequest,
    FieldSpec,
    FieldValue,
    Question,
)
from pipeline.types import Page

if TYPE_CHECKING:
    from model.generation import FlorenceVLGenerator, GeneratedAnswer

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "jiuhai/florence-vl-3b-sft"
TINY_RANDOM_REVISION = "tiny-random"
_DTYPES = ("bfloat16", "float16", "float32")


class FlorenceVLEngine(Engine):
    """Answers questions and extracts fields by asking Florence-VL about each page.

    Args:
        model_id_or_path: hub id (`jiuhai/florence-vl-3b-sft`, `-8b-sft`) or a local
            released-layout directory.
        device: "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:1", ...
        dtype: "auto" (bfloat16 on CUDA, float32 on CPU) or one of bfloat16/float16/float32.
        fusion_profile: DBFusion gain profile, "default" (exactly the released model) or
            "document" (OCR-prompt features weighted up; see docs/model.md); a fine-tuned
            model or adapter keeps the gains it learned.
        adapter: a folder `docfuse finetune` wrote (its `adapter/`), merged into the model on
            load; the model revision then names it.
        max_new_tokens: answer length cap.
        batch_size: pages per vision batch and prompts per generation batch.
    """

    name = "florence-vl"
    prompt_version = "florence-vl-1"

    def __init__(
        self,
        model_id_or_path: str = DEFAULT_MODEL,
        *,
        device: str = "auto",
        dtype: str = "auto",
        fusion_profile: str = "default",
        adapter: str = "",
        max_new_tokens: int = 64,
        batch_size: int = 8,
    ) -> None:
        from model.generation import FlorenceVLGenerator

        self._configure(device, dtype, max_new_tokens, batch_size)
        self.vlm = FlorenceVLGenerator.from_pretrained(
            model_id_or_path,
            device=self.device,
            dtype=_torch_dtype(self.dtype),
            gain_profile=fusion_profile,
            attn_implementation=attention_implementation(self.device),
        )
        self._apply_adapter(adapter)
        self.model_name = str(model_id_or_path)
        self.model_revision = _revision_of(model_id_or_path, self.vlm)
        logger.info(
            "florence-vl engine ready: %s on %s (%s), fusion profile %s",
            self.model_revision,
            self.device,
            self.dtype,
            fusion_profile,
        )

    @classmethod
    def tiny_random(
        cls,
        backbone: str = "phi3",
        seed: int = 0,
        *,
        device: str = "cpu",
        dtype: str = "auto",
        fusion_profile: str = "default",
        adapter: str = "",
        max_new_tokens: int = 16,
        batch_size: int = 8,
    ) -> FlorenceVLEngine:
        """The same code with a tiny random model and offline tokenizers, for tests and smoke
        runs only. Its answers are meaningless; `model_revision` says "tiny-random"."""
        from model.config import FusionConfig
        from model.tiny import tiny_random_generator

        engine = cls.__new__(cls)
        engine._configure(device, dtype, max_new_tokens, batch_size)
        gains = FusionConfig().with_profile(fusion_profile).gains
        engine.vlm = tiny_random_generator(
            backbone, seed, device=engine.device, dtype=_torch_dtype(engine.dtype), gains=gains
        )
        engine._apply_adapter(adapter)
        engine.model_name = TINY_RANDOM_REVISION
        engine.model_revision = _revision_of(TINY_RANDOM_REVISION, engine.vlm)
        logger.warning("florence-vl engine runs a tiny RANDOM model: its answers are meaningless")
        return engine

    def _configure(self, device: str, dtype: str, max_new_tokens: int, batch_size: int) -> None:
        from model.generation import GenerationSettings

        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(
                f"batch_size ({batch_size}) and max_new_tokens ({max_new_tokens}) must be >= 1"
            )
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        self.settings = GenerationSettings(max_new_tokens=max_new_tokens)

    def _apply_adapter(self, adapter: str) -> None:
        if adapter:
            from model.adapter import apply_adapter

            apply_adapter(self.vlm.model, Path(adapter))

    def answer(self, pages: Sequence[Page], questions: Sequence[Question]) -> list[Answer]:
        """Answer each question about the page it names; one model call for the whole batch."""
        return self.analyze([EngineRequest(pages, questions)])[0].answers

    def extract(self, pages: Sequence[Page], fields: Sequence[FieldSpec]) -> list[FieldValue]:
        """Ask each field's question on every page and keep the most confident non-empty answer."""
        return self.analyze([EngineRequest(pages, fields=fields)])[0].fields

    def analyze(self, requests: Sequence[EngineRequest]) -> list[EngineOutput]:
        """Every question and field question of every document in ONE model call, so the
        vision tower and the LLM see full batches however small each document is."""
        batch = _PromptBatch()
        for request in requests:
            batch.add(request)
        results = self.vlm.answer(
            batch.images, batch.prompts, settings=self.settings, batch_size=self.batch_size
        )
        return batch.split(results)


class _PromptBatch:
    """Flattens documents' questions into (image position, prompt) pairs and back."""

    def __init__(self) -> None:
        self.images: list[Image.Image] = []
        self.prompts: list[tuple[int, str]] = []
        self._requests: list[EngineRequest] = []

    def add(self, request: EngineRequest) -> None:
        by_index = {page.index: page for page in request.pages}
        wanted = {question.page for question in request.questions}
        if request.fields:
            wanted |= set(by_index)
        absent = sorted(wanted - set(by_index))
        if absent:
            raise ValueError(f"questions name pages {absent}, not among pages {sorted(by_index)}")
        position = {}
        for index in sorted(wanted):
            position[index] = len(self.images)
            self.images.append(by_index[index].image.convert("RGB"))
        self.prompts.extend((position[q.page], q.text) for q in request.questions)
        for spec in request.fields:
            self.prompts.extend((position[i], field_question(spec)) for i in sorted(by_index))
        self._requests.append(request)

    def split(self, results: Sequence[GeneratedAnswer]) -> list[EngineOutput]:
        outputs, cursor = [], 0
        for request in self._requests:
            asked = results[cursor : cursor + len(request.questions)]
            answers = [
                Answer(question=q, text=r.text, confidence=r.confidence)
                for q, r in zip(request.questions, asked, strict=True)
            ]
            cursor += len(request.questions)
            pages = sorted(page.index for page in request.pages)
            fields = []
            for spec in request.fields:
                fields.append(_best_page(spec, pages, results[cursor : cursor + len(pages)]))
                cursor += len(pages)
            outputs.append(EngineOutput(answers, fields))
        return outputs


def _best_page(spec: FieldSpec, pages: list[int], results: Sequence[GeneratedAnswer]) -> FieldValue:
    """The most confident non-empty answer among one field's answers, one per page."""
    candidates = [(page, r) for page, r in zip(pages, results, strict=True) if r.text]
    if not candidates:
        return FieldValue(field=spec, text="", page=None)
    page, best = max(candidates, key=lambda item: item[1].confidence)
    return FieldValue(field=spec, text=best.text, page=page, confidence=best.confidence)


def field_question(spec: FieldSpec) -> str:
    return spec.question or f"What is the {spec.name.replace('_', ' ')}?"


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    if dtype == "auto":
        return "bfloat16" if device.startswith("cuda") else "float32"
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not 'auto' or one of {_DTYPES}")
    return dtype


def attention_implementation(device: str) -> str:
    """flash-attn 2 when installed (the optional `gpu` extra) and on CUDA, else SDPA."""
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def _torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def _revision_of(model_id_or_path: str, vlm: FlorenceVLGenerator) -> str:
    """The id or path, plus the hub commit when the files came from a hub snapshot, plus the
    fine-tuned adapter's hash when one is merged in (two fine-tuning runs into one folder
    are two revisions)."""
    revision = str(model_id_or_path)
    directory = vlm.directory
    if directory is not None and directory.parent.name == "snapshots":
        revision = f"{revision}@{directory.name}"
    if vlm.config.adapter:
        revision = f"{revision}+adapter.{vlm.config.adapter[:12]}"
    return revision
