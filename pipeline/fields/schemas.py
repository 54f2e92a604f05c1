"""Field schemas: which fields to extract, their types, and how to ask for them.

Built-in schemas live as YAML beside this module and load through the same code as a
user's YAML or JSON file, so the built-ins double as examples of the format:

    name: receipt
    fields:
      - name: total
        type: amount            # string | date | amount | number | id
        description: Amount paid, taxes included.
        question: What is the total amount paid?
        labels: [total, grand total, amount due]   # optional: printed keys to look for
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.engines.base import FieldSpec
from pipeline.errors import BadInputError

BUILTIN_DIR = Path(__file__).parent / "builtin"


class SchemaError(BadInputError):
    """A field schema file is missing or invalid."""


class FieldType(StrEnum):
    STRING = "string"
    DATE = "date"
    AMOUNT = "amount"
    NUMBER = "number"
    ID = "id"


class FieldDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="snake_case field name.")
    type: FieldType = FieldType.STRING
    description: str = ""
    question: str = Field("", description="What an answering engine is asked.")
    labels: list[str] = Field(default_factory=list, description="Printed keys, e.g. 'Total'.")
    repeated: bool = Field(False, description="A list of rows (e.g. line items).")

    def spec(self) -> FieldSpec:
        question = self.question or f"What is the {self.name.replace('_', ' ')}?"
        labels = tuple(self.labels) or (self.name.replace("_", " "),)
        return FieldSpec(self.name, str(self.type), self.description, question, labels)


class FieldSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    fields: list[FieldDefinition] = Field(min_length=1)

    @field_validator("fields")
    @classmethod
    def _unique_names(cls, fields: list[FieldDefinition]) -> list[FieldDefinition]:
        names = [field.name for field in fields]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate field names: {', '.join(duplicates)}")
        return fields

    def field(self, name: str) -> FieldDefinition:
        for definition in self.fields:
            if definition.name == name:
                return definition
        raise KeyError(f"schema {self.name} has no field {name!r}")


def builtin_schema_names() -> list[str]:
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.yaml"))


def load_schema(name_or_path: str | Path) -> FieldSchema:
    """A built-in schema by name (`receipt`, `invoice`), or a YAML/JSON file by path."""
    path = Path(name_or_path)
    if str(name_or_path) in builtin_schema_names():
        path = BUILTIN_DIR / f"{name_or_path}.yaml"
    elif not path.is_file():
        known = ", ".join(builtin_schema_names())
        raise SchemaError(f"{name_or_path}: no such schema file, and not a built-in ({known})")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
        return FieldSchema.model_validate(data)
    except (OSError, ValueError, yaml.YAMLError, ValidationError) as error:
        raise SchemaError(f"{path}: invalid field schema: {error}") from error
