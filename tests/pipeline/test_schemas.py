"""Field schemas: the built-ins, user files in YAML and JSON, and readable errors."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from pipeline.engines.base import FieldSpec
from pipeline.fields.schemas import SchemaError, builtin_schema_names, load_schema


def test_builtin_schemas() -> None:
    assert builtin_schema_names() == ["invoice", "receipt"]
    receipt = load_schema("receipt")
    assert [f.name for f in receipt.fields] == ["company", "date", "address", "total"]
    invoice = load_schema("invoice")
    assert {
        "invoice_number",
        "issue_date",
        "due_date",
        "vendor",
        "customer",
        "currency",
        "subtotal",
        "tax",
        "total",
        "line_items",
    } == {f.name for f in invoice.fields}
    assert invoice.field("total").type == "amount"
    assert invoice.field("line_items").repeated


def test_user_schema_in_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "po.yaml"
    yaml_file.write_text(
        "name: purchase_order\nfields:\n  - name: po_number\n    type: id\n"
        "    labels: [PO number, P.O. no]\n  - name: ordered_on\n    type: date\n"
    )
    schema = load_schema(yaml_file)
    spec = schema.field("po_number").spec()
    assert spec == FieldSpec("po_number", "id", "", "What is the po number?", spec.labels, False)
    assert spec.labels == ("PO number", "P.O. no")
    ordered_on = schema.field("ordered_on").spec()
    assert ordered_on.question == "What is the ordered on?"
    assert ordered_on.labels == ("ordered on",)  # a field without labels is keyed by its name
    json_file = tmp_path / "po.JSON"  # indented with tabs: JSON, never YAML
    json_file.write_text(json.dumps(schema.model_dump(mode="json"), indent="\t"))
    assert load_schema(json_file) == schema


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("name: x\nfields: []\n", "at least 1"),
        ("name: x\nfields:\n  - name: total\n    type: money\n", "type"),
        ("name: x\nfields:\n  - {name: a}\n  - {name: a}\n", "duplicate field names: a"),
        ("name: x\nfields:\n  - name: Bad Name\n", "name"),
        ("name: [unclosed\n", "invalid field schema"),
    ],
)
def test_invalid_schemas_name_the_file_and_reason(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(SchemaError, match="bad.yaml") as error:
        load_schema(path)
    assert reason in str(error.value)


def test_a_schema_that_cannot_be_read_names_the_file_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "unreadable.yaml"
    path.write_text("name: x\nfields: []\n")

    def failing_disk(*_: object, **__: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(Path, "open", failing_disk)
    with pytest.raises(SchemaError) as refused:
        load_schema(path)
    assert str(refused.value) == f"{path}: cannot read the schema: Input/output error"


def test_unknown_schema_lists_the_builtins() -> None:
    with pytest.raises(SchemaError, match="invoice, receipt"):
        load_schema("nonexistent")


BILLION_LAUGHS = """name: laughs
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
fields: [*g]
"""


def test_a_schema_with_aliases_is_refused_before_it_expands(tmp_path: Path) -> None:
    bomb = tmp_path / "laughs.yaml"
    bomb.write_text(BILLION_LAUGHS)
    assert bomb.stat().st_size < 500
    with pytest.raises(SchemaError) as refused:
        load_schema(bomb)
    assert str(refused.value).startswith(  # where the first alias is, to fix it there
        f"{bomb}: invalid field schema: aliases (*name) are not allowed in a schema\n"
        '  in "<unicode string>", line 3, column 8:\n'
    )


def test_an_oversized_schema_file_is_refused_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("name: big\nfields:\n" + "  - name: f\n" * 200_000)
    with pytest.raises(SchemaError, match="larger than 1,048,576 bytes"):
        load_schema(big)
    fits = tmp_path / "fits.yaml"
    head = "name: fits\nfields:\n  - name: tags\n    list: true\n#"
    fits.write_text(head + "x" * (1_048_576 - len(head)))  # exactly the limit
    assert load_schema(fits).field("tags").spec().repeated


def test_errors_never_quote_the_whole_document(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    fields = "\n".join(f"  - name: Field{n}\n    type: colour" for n in range(500))
    wrong.write_text(f"name: wrong\nfields:\n{fields}\n")
    with pytest.raises(SchemaError) as refused:
        load_schema(wrong)
    message = str(refused.value)
    assert len(message) <= 600 and "Field499" not in message
    assert "fields.0.name: String should match pattern" in message and "more)" in message


def test_problems_are_listed_where_they_are_then_counted(tmp_path: Path) -> None:
    """The first five problems by place, then how many more; a document that is not a
    mapping has no place and is "the document"."""
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("name: wrong\nfields:\n" + "  - name: f\n    type: colour\n" * 7)
    with pytest.raises(SchemaError) as refused:
        load_schema(wrong)
    colour = "Input should be 'string', 'date', 'amount', 'number' or 'id'"
    listed = "; ".join(f"fields.{n}.type: {colour}" for n in range(5))
    assert str(refused.value) == f"{wrong}: invalid field schema: {listed} (and 2 more)"
    wrong.write_text("name: wrong\nfields:\n" + "  - name: f\n    type: colour\n" * 6)
    with pytest.raises(SchemaError) as refused:
        load_schema(wrong)
    assert str(refused.value) == f"{wrong}: invalid field schema: {listed} (and 1 more)"
    one = tmp_path / "one.yaml"
    one.write_text("name: one\nfields:\n  - name: f\n    type: colour\n")
    with pytest.raises(SchemaError) as refused:
        load_schema(one)
    assert str(refused.value) == f"{one}: invalid field schema: fields.0.type: {colour}"
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just words\n")
    with pytest.raises(SchemaError) as refused:
        load_schema(scalar)
    assert str(refused.value).startswith(f"{scalar}: invalid field schema: the document: ")


def test_a_long_reason_is_cut_to_500_characters_with_an_ellipsis(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    names = [f"{letter * 150}" for letter in "abcde"]
    wrong.write_text("name: wrong\nfields:\n" + "".join(f"  - name: {n}\n" for n in names * 2))
    with pytest.raises(SchemaError) as refused:
        load_schema(wrong)
    reason = str(refused.value).removeprefix(f"{wrong}: invalid field schema: ")
    whole = f"fields: Value error, duplicate field names: {', '.join(names)}"
    assert reason == whole[:499] + "…"
    fits = tmp_path / "fits.yaml"
    exactly = ["a" * 227, "b" * 227]  # the reason is 500 characters: kept whole
    fits.write_text("name: fits\nfields:\n" + "".join(f"  - name: {n}\n" for n in exactly * 2))
    with pytest.raises(SchemaError) as refused:
        load_schema(fits)
    reason = str(refused.value).removeprefix(f"{fits}: invalid field schema: ")
    assert reason == f"fields: Value error, duplicate field names: {', '.join(exactly)}"
    assert len(reason) == 500


def test_asking_a_schema_for_a_field_it_lacks_names_both() -> None:
    schema = load_schema("invoice")
    assert schema.field("total").type == "amount"
    with pytest.raises(KeyError, match="schema invoice has no field 'colour'"):
        schema.field("colour")
