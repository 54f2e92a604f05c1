"""Known field values of labelled folders, for scoring (`docfuse eval`) and training
(`docfuse train-extractor`) alike.

- `docfuse`: `docs/*` and `expected/<file stem>.json` of schema field values; the schema is
  `schema.yaml` (`.yml`, `.json`) in the folder, else the built-in schema naming the most
  expected keys. An expected file may name its `source` (a path): documents from one source
  folder are one layout family.
- `sroie`: `images/*.jpg` and `keys/<stem>.json` (company, date, address, total), read with
  the built-in `receipt` schema; each receipt is its own family.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pipeline.fields.schemas import FieldSchema, builtin_schema_names, load_schema

NOT_FIELDS = ("source",)  # keys of expected files that describe, not label


@dataclass(frozen=True)
class Gold:
    """A labelled document: its file, its known values, and its layout family."""

    path: Path
    values: dict[str, str]
    family: str


@dataclass(frozen=True)
class GoldSet:
    schema: FieldSchema
    documents: list[Gold]


def docfuse_gold(folder: Path) -> GoldSet:
    expected = {path.stem: path for path in (folder / "expected").glob("*.json")}
    files = sorted(p for p in (folder / "docs").glob("*") if p.is_file() and p.stem in expected)
    if not files:
        raise ValueError(f"{folder}: no docs/* with an expected/<stem>.json, see docfuse eval")
    raw = {p.stem: json.loads(expected[p.stem].read_text(encoding="utf-8")) for p in files}
    documents = [
        Gold(
            path,
            {k: str(v) for k, v in raw[path.stem].items() if k not in NOT_FIELDS and v is not None},
            _family(raw[path.stem].get("source"), path),
        )
        for path in files
    ]
    return GoldSet(_gold_schema(folder, raw.values()), documents)


def sroie_gold(folder: Path) -> GoldSet:
    images = sorted((folder / "images").glob("*.jpg"))
    if not images:
        raise ValueError(f"{folder}: no images/*.jpg, is this a SROIE-style folder?")
    documents = [
        Gold(image, _sroie_keys(folder, image.stem), f"sroie/{image.stem}") for image in images
    ]
    return GoldSet(load_schema("receipt"), documents)


def _sroie_keys(folder: Path, stem: str) -> dict[str, str]:
    keys = json.loads((folder / "keys" / f"{stem}.json").read_text(encoding="utf-8"))
    return {name: str(value) for name, value in keys.items() if value is not None}


GOLD_READERS = {"docfuse": docfuse_gold, "sroie": sroie_gold}


def _family(source: str | None, path: Path) -> str:
    return str(PurePosixPath(source).parent) if source else path.stem


def _gold_schema(folder: Path, gold: Iterable[dict[str, Any]]) -> FieldSchema:
    """The folder's own schema file, else the built-in schema naming most expected keys."""
    for name in ("schema.yaml", "schema.yml", "schema.json"):
        if (folder / name).is_file():
            return load_schema(folder / name)
    keys = Counter(key for values in gold for key in values)
    schemas = [load_schema(name) for name in builtin_schema_names()]
    return max(schemas, key=lambda schema: sum(keys[d.name] for d in schema.fields))
