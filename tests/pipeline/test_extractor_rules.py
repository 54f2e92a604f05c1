"""The extractor's rules at their edges: what counts as a key's value, an id, a seller's
line, a table row, a document's currency (pins the rules' edges that the real pages of
test_extractive do not reach)."""

from __future__ import annotations

import json

import pytest

from pipeline.engines.candidates import field_candidates
from pipeline.engines.extractive import find_field
from pipeline.engines.layout_rules import labels_a_name
from pipeline.fields.schemas import load_schema
from pipeline.layout import Line, group_lines
from pipeline.types import Box, Word
from tests.pipeline.test_extractive import _page_of_lines

INVOICE = load_schema("invoice")


def _rows(*rows: str) -> list[list[Line]]:
    """A one-page document, one row per line (test_extractive's layout)."""
    return [group_lines(_page_of_lines(*rows).words)]


def _placed(*words: tuple[str, float, float, float]) -> list[list[Line]]:
    """A one-page document of words placed as (text, x0, x1, y0)."""
    return [group_lines([Word(text, Box(0, x0, y0, x1, y0 + 0.02)) for text, x0, x1, y0 in words])]


def _read(field: str, lines: list[list[Line]]) -> str | None:
    found = find_field(INVOICE.field(field).spec(), lines)
    return found.text if found else None


@pytest.mark.parametrize(
    ("rows", "customer"),
    [
        (("Customer", "Smith - Jones"), "Smith - Jones"),  # the dash is the value's
        (("Bill to", ":", "Customer: Beispiel AG"), "Beispiel AG"),  # a lone colon is none
        (("Customer :Beispiel AG",), "Beispiel AG"),
        (("Customer: FEDEX",), "FEDEX"),
    ],
)
def test_a_keyed_string_is_the_printed_value_without_the_key_s_colon(
    rows: tuple[str, ...], customer: str
) -> None:
    """The value keeps its own punctuation and letters but not the colon of its key, and a
    line holding nothing but a colon gives no value (the next key's is read)."""
    assert _read("customer", _rows(*rows)) == customer


@pytest.mark.parametrize(
    ("row", "number"), [("Invoice No. 4521,", "4521"), ("Invoice No. X-2041", "X-2041")]
)
def test_an_id_after_its_key_loses_trailing_punctuation_not_its_letters(
    row: str, number: str
) -> None:
    """A comma printed after an id ("4521,") is not part of it; an X it starts with is."""
    assert _read("invoice_number", _rows(row)) == number


@pytest.mark.parametrize(
    ("row", "candidates"),
    [
        ("Receipt total 89.28", []),
        ("Receipt total 89.28, thank you", []),
        ("Receipt No. X-2041", [("X-2041", 1.0, 1.0)]),
        ("Receipt No. X25", [("X25", 1.0, 1.0)]),
    ],
)
def test_ids_on_a_title_line_are_no_amounts_and_keep_their_letters(
    row: str, candidates: list[tuple[str, float, float]]
) -> None:
    """The ranker's id candidates from a document's title line: an amount there (comma
    after it or not) is none; an id, even a short one starting with X, is read whole, flagged
    as after a number word."""
    spec = INVOICE.field("invoice_number").spec()
    found = field_candidates(spec, _rows(row), None)
    assert [
        (c.found.text, c.features["title_line"], c.features["number_word"]) for c in found
    ] == candidates


def test_a_value_under_its_key_may_start_a_little_left_of_it_but_not_under_another_key() -> None:
    """In a row of keys each value is printed beneath its own key, give or take the jitter
    of OCR boxes; the next key's value, further right, is not this key's."""
    spec = INVOICE.field("invoice_number").spec()
    jittered = _placed(
        ("Invoice", 0.30, 0.40, 0.1), ("No.", 0.41, 0.45, 0.1), ("Date", 0.60, 0.66, 0.1),
        ("A-1234", 0.20, 0.29, 0.14),
    )  # fmt: skip
    [candidate] = field_candidates(spec, jittered, None)
    assert (candidate.found.text, candidate.features["key_below"]) == ("A-1234", 1.0)
    other_key = _placed(
        ("Invoice", 0.05, 0.15, 0.1), ("No.", 0.16, 0.20, 0.1), ("Order", 0.60, 0.70, 0.1),
        ("No.", 0.71, 0.75, 0.1), ("PO-55", 0.60, 0.70, 0.14),
    )  # fmt: skip
    assert field_candidates(spec, other_key, None) == []


@pytest.mark.parametrize(
    ("rows", "vendor"),
    [
        (("IKEA", "Tel: 08-555 12 34"), "IKEA"),  # four letters make a name
        (("NORTHWIND PIZZA SDN BHD (123456-X)", "12 Jalan Besar"), "NORTHWIND PIZZA SDN BHD"),
        (  # a colon after the fourth word ends no form's label
            ("Bakkerij De Vries en Zoon: brood en banket", "Dorpsstraat 5"),
            "Bakkerij De Vries en Zoon: brood en banket",
        ),
    ],
)
def test_the_seller_s_line(rows: tuple[str, ...], vendor: str) -> None:
    """The seller is the top wordy line, without the registration number printed beside
    the name, and a line of prose is no form's label for some other detail."""
    assert _read("vendor", _rows(*rows)) == vendor


def test_a_document_without_pages_has_no_seller_and_no_address() -> None:
    """An empty document (no pages) gives nothing rather than failing."""
    receipt = load_schema("receipt")
    empty = [find_field(receipt.field(name).spec(), []) for name in ("company", "address")]
    assert empty == [None, None]


@pytest.mark.parametrize(("label", "names"), [("Raison sociale :", True), ("Name X:", False)])
def test_only_a_name_s_own_label_marks_a_name(label: str, names: bool) -> None:
    """A label marks a party's name only when it is a name's label as a whole, not one that
    goes on to name something more ("Name X:")."""
    words = [Word(text, Box(0, 0.1, 0.1, 0.2, 0.12)) for text in label.split()]
    assert labels_a_name(words) is names


def test_the_currency_is_the_one_most_amounts_are_printed_in() -> None:
    """Two amounts in euros and one in dollars make an invoice in euros."""
    assert _read("currency", _rows("Pens €2.00", "Ink €3.00", "Stamp $1.00")) == "EUR"


def test_table_rows_need_a_description_and_an_amount() -> None:
    """A note in the table and a row of bare numbers (a wrapped row's figures) are no
    items."""
    rows = _rows(
        "Item Qty Amount", "Delivered to Leeds", "Pens 2 5.00", "10 4.20 42.00", "Total 5.00"
    )
    found = find_field(INVOICE.field("line_items").spec(), rows)
    assert found is not None
    assert json.loads(found.text) == [
        {"description": "Pens", "quantity": "2", "unit_price": None, "amount": "5.00"}
    ]


def test_a_table_row_read_by_ocr_as_one_word() -> None:
    """OCR may give a short line as one word: the row is still an item, on its page."""
    lines = _placed(
        ("Item", 0.05, 0.15, 0.1), ("Amount", 0.6, 0.7, 0.1), ("Paper 6.00", 0.05, 0.7, 0.14)
    )
    found = find_field(INVOICE.field("line_items").spec(), lines)
    assert found is not None and found.page == 0
    assert json.loads(found.text) == [
        {"description": "Paper", "quantity": None, "unit_price": None, "amount": "6.00"}
    ]
