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
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.engines.base import FieldSpec
from pipeline.errors import BadInputError

BUILTIN_DIR = Path(__file__).parent / "builtin"
MAX_SCHEMA_BYTES = 1024 * 1024
MAX_PROBLEMS = 5
MAX_MESSAGE = 500


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
    repeated: bool = Field(
        False,
        validation_alias=AliasChoices("repeated", "list"),
        description="A list: rows (line items), or every value printed after the labels; "
        "exported as a JSON array. `list: true` says the same.",
    )
    unsigned: bool = Field(
        False,
        description="An amount stored as its size: a credit note prints its total as "
        "'-233,47 €' where the e-invoice it carries, and the standard (EN 16931), keep it "
        "positive, the document's type saying it is a credit.",
    )

    def spec(self) -> FieldSpec:
        question = self.question or f"What is the {self.name.replace('_', ' ')}?"
        labels = tuple(self.labels) or (self.name.replace("_", " "),)
        return FieldSpec(
            self.name,
            str(self.type),
            self.description,
            question,
            labels,
            self.repeated,
            self.unsigned,
        )


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


def builtin_fields() -> list[FieldDefinition]:
    """Every field of the built-in schemas, schema by schema."""
    return [
        definition for name in builtin_schema_names() for definition in load_schema(name).fields
    ]


def load_schema(name_or_path: str | Path) -> FieldSchema:
    """A built-in schema by name (`receipt`, `invoice`), or a YAML/JSON file by path.

    A schema file is a user's input: it is read only if it is a regular file of at most
    MAX_SCHEMA_BYTES, YAML aliases are refused (a few hundred bytes of nested aliases
    expand to gigabytes), and an error names the file and what is wrong, never quoting the
    document itself.
    """
    path = Path(name_or_path)
    if str(name_or_path) in builtin_schema_names():
        path = BUILTIN_DIR / f"{name_or_path}.yaml"
    elif not path.is_file():
        known = ", ".join(builtin_schema_names())
        raise SchemaError(f"{name_or_path}: no such schema file, and not a built-in ({known})")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SCHEMA_BYTES + 1)
    except OSError as error:
        raise SchemaError(f"{path}: cannot read the schema: {error.strerror}") from error
    return parse_schema(data, source=str(path))


def parse_schema(data: bytes, *, source: str) -> FieldSchema:
    """A schema from the bytes of a YAML or JSON file (`source` names it in errors, and
    its `.json` suffix selects JSON), with the checks `load_schema` describes."""
    try:
        if len(data) > MAX_SCHEMA_BYTES:
            raise ValueError(f"larger than {MAX_SCHEMA_BYTES:,} bytes; a schema is a short list")
        text = data.decode("utf-8")
        is_json = source.lower().endswith(".json")
        return FieldSchema.model_validate(
            json.loads(text) if is_json else yaml.load(text, _NoAliases)
        )
    except ValidationError as error:
        raise SchemaError(f"{source}: invalid field schema: {_problems(error)}") from error
    except (ValueError, yaml.YAMLError) as error:
        raise SchemaError(f"{source}: invalid field schema: {_short(str(error))}") from error


class _NoAliases(yaml.SafeLoader):
    """YAML without aliases (`*name`), which a schema never needs."""

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a schema", mark
            )
        return super().compose_node(parent, index)


def _problems(error: ValidationError) -> str:
    """The first few validation problems, each with where it is, without the input."""
    problems = [
        f"{'.'.join(str(part) for part in problem['loc']) or 'the document'}: {problem['msg']}"
        for problem in error.errors(include_input=False)[:MAX_PROBLEMS]
    ]
    more = error.error_count() - len(problems)
    return _short("; ".join(problems) + (f" (and {more} more)" if more > 0 else ""))


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"
