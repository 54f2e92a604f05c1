"""The candidate ranker: which of a field's candidates is its value, and how sure to be.

A ranker is logistic regression over the candidate features of
pipeline.engines.candidates, one set of weights per field it was trained for (`total`,
`issue_date`, ...) and one per value type (`type:date`, ...) for the fields of users'
own schemas. The candidate with the highest probability is the value; its probability is
then mapped through a calibration (Platt scaling) fitted on pages held apart from the
weights' training, so that a confidence of 0.9 is right about 9 times in 10.

It is stored as JSON (weights, feature names, calibration): readable, diffable, and
loaded without unpickling anything. Its version is the sha256 of that file, so results
name the exact ranker that produced them. Training is pipeline.engines.ranker_training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.engines.base import FieldSpec
from pipeline.engines.candidates import FEATURES, Candidate

BUILTIN_RANKER = Path(__file__).with_name("extractor-ranker.json")
FORMAT = "docfuse-extractor-ranker/1"


class RankerError(ValueError):
    """A ranker file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class LinearModel:
    """Standardised logistic regression: sigmoid(((x - mean) / scale) . coef + intercept)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = ((vectors - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "mean": _rounded(self.mean),
            "scale": _rounded(self.scale),
            "coef": _rounded(self.coef),
            "intercept": round(float(self.intercept), 6),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearModel:
        return cls(  # the file's numbers are all written as floats
            np.asarray(data["mean"]),
            np.asarray(data["scale"]),
            np.asarray(data["coef"]),
            float(data["intercept"]),
        )


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(value), 6) for value in values]


@dataclass(frozen=True)
class Calibration:
    """A monotone map from ranker probability to the share of such values found right."""

    points: tuple[float, ...]
    rates: tuple[float, ...]

    def __call__(self, probability: float) -> float:
        if not self.points:
            return probability
        return float(np.interp(probability, self.points, self.rates))


@dataclass(frozen=True)
class Ranker:
    models: dict[str, LinearModel]
    calibration: Calibration
    version: str = ""

    def model_for(self, name: str, value_type: str) -> LinearModel | None:
        """The field's own weights, else its type's, else None (the rules decide)."""
        return self.models.get(name) or self.models.get(type_kind(value_type))

    def best(self, model: LinearModel, vectors: np.ndarray) -> tuple[int, float]:
        """The most probable of the candidates' feature `vectors`, and its calibrated
        confidence."""
        probabilities = model.probabilities(vectors)
        best = int(np.argmax(probabilities))
        return best, self.calibration(float(probabilities[best]))

    def pick(self, spec: FieldSpec, candidates: list[Candidate]) -> tuple[Candidate, float] | None:
        """The most probable candidate and its calibrated confidence; None when there are no
        candidates or no weights for the field."""
        model = self.model_for(spec.name, spec.type)
        if model is None or not candidates:
            return None
        best, confidence = self.best(model, np.asarray([c.vector() for c in candidates]))
        return candidates[best], round(confidence, 4)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "features": list(FEATURES),
                "models": {kind: model.as_dict() for kind, model in sorted(self.models.items())},
                "calibration": {
                    "points": list(self.calibration.points),
                    "rates": list(self.calibration.rates),
                },
            },
            indent=1,
        )


def type_kind(value_type: str) -> str:
    """The weights a field of a users' schema falls back on: those of its value type."""
    return f"type:{value_type}"


def save_ranker(ranker: Ranker, path: Path) -> Ranker:
    """Write `ranker` to `path`; returns it with the version of the written file."""
    text = ranker.to_json() + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)  # JSON's ASCII escapes: the same bytes in any encoding
    return Ranker(ranker.models, ranker.calibration, _version(text.encode()))


def load_ranker(path: Path = BUILTIN_RANKER) -> Ranker:
    """Read a ranker file; one written for other features is refused, naming the file."""
    try:
        raw = path.read_bytes()
        data = json.loads(raw)
    except (OSError, ValueError) as error:
        raise RankerError(f"{path}: not a readable extractor ranker ({error})") from error
    if data.get("format") != FORMAT or data.get("features") != list(FEATURES):
        raise RankerError(
            f"{path}: written for other candidate features; retrain it with docfuse train-extractor"
        )
    models = {kind: LinearModel.from_dict(model) for kind, model in data["models"].items()}
    calibration = data["calibration"]
    return Ranker(
        models,
        Calibration(tuple(calibration["points"]), tuple(calibration["rates"])),
        _version(raw),
    )


def _version(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:12]
