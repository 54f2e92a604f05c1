"""The engine contract: pages + questions -> answers, pages + fields -> values.

Engines are batched by design: a call carries every page and every question of a unit of
work so the engine can share per-page work (vision features, layout analysis) across
questions. Grounding (answer text -> boxes) is engine-independent and happens after the
engine; an engine may still return boxes of its own (e.g. Florence-2 regions).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from pipeline.types import Box, Page


@dataclass(frozen=True, slots=True)
class Question:
    """A question about one page (`page` is the page's index)."""

    page: int
    text: str


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A field to extract: `question` is what an answering engine is asked for it;
    `labels` are the keys printed before the value ("Total", "Amount due"); a `repeated`
    field's value is a JSON array (of rows, or of every value printed after its keys); an
    `unsigned` amount is stored as its size (see `FieldDefinition.unsigned`)."""

    name: str
    type: str = "string"
    description: str = ""
    question: str = ""
    labels: tuple[str, ...] = ()
    repeated: bool = False
    unsigned: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """An engine's answer to a `Question`. Empty `text` means the engine found none."""

    question: Question
    text: str
    confidence: float | None = None
    boxes: list[Box] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FieldValue:
    """An engine's raw value for a field; `page` is None when the value was not found."""

    field: FieldSpec
    text: str
    page: int | None
    confidence: float | None = None
    boxes: list[Box] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """One document's share of an engine batch: its pages, the questions about them (each
    naming its page) and the fields to find anywhere in the document."""

    pages: Sequence[Page]
    questions: Sequence[Question] = ()
    fields: Sequence[FieldSpec] = ()


@dataclass(frozen=True, slots=True)
class EngineOutput:
    """What an engine returns for one `EngineRequest`, in the request's order."""

    answers: list[Answer]
    fields: list[FieldValue]


@runtime_checkable
class Engine(Protocol):
    """What every engine implements. `name`, `model_revision` and `prompt_version` key stored
    results; `model_name` says which model (hub id, path, or rule set) produced them."""

    name: str
    model_name: str
    model_revision: str
    prompt_version: str

    def answer(self, pages: Sequence[Page], questions: Sequence[Question]) -> list[Answer]:
        """Answer each question (in order) about the page it names."""
        ...

    def extract(self, pages: Sequence[Page], fields: Sequence[FieldSpec]) -> list[FieldValue]:
        """Find a value for each field (in order) anywhere in the document's pages."""
        ...

    def analyze(self, requests: Sequence[EngineRequest]) -> list[EngineOutput]:
        """Serve a batch of documents at once (the unit a GPU worker runs). This default
        serves them one by one; an engine that gains from batching across documents (a
        model on a GPU) overrides it."""
        return [
            EngineOutput(
                self.answer(request.pages, request.questions) if request.questions else [],
                self.extract(request.pages, request.fields) if request.fields else [],
            )
            for request in requests
        ]
