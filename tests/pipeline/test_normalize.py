"""Normalisation tables: the date and amount spellings receipts and invoices use."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pipeline.fields.normalize import (
    comparable,
    find_amounts,
    format_decimal,
    normalize,
    same_value,
)

DATES = [
    ("25/12/2018", "2018-12-25"),
    ("25-12-18", "2018-12-25"),
    ("25.12.2018", "2018-12-25"),
    ("2018-12-25", "2018-12-25"),
    ("2018/12/25", "2018-12-25"),
    ("25 Dec 2018", "2018-12-25"),
    ("25-DEC-18", "2018-12-25"),
    ("25Dec2018", "2018-12-25"),
    ("December 25, 2018", "2018-12-25"),
    ("Dec 25 2018", "2018-12-25"),
    ("12/25/2018", "2018-12-25"),  # month first is unambiguous when day > 12
    ("12/13/2018", "2018-12-13"),  # even by one
    ("05.12.2024", "2024-12-05"),  # but December with a day of 12 or less stays day first
    ("3/1/2019", "2019-01-03"),  # day first by default
    ("Date: 06/03/2018 12:06:00", "2018-03-06"),
    ("Date :16-03-201812:07:10", "2018-03-16"),  # OCR ran the time into the year
    ("BIZDATE:12/03/2018", "2018-03-12"),
    ("DATE：14/10/2026", "2026-10-14"),  # fullwidth colon from OCR
    ("31/02/2018", None),  # no such day
    ("01/02/69", "2069-02-01"),  # two-digit years: up to 69 in this century
    ("01/02/70", "1970-02-01"),  # from 70 in the last
    ("01/02/99", "1999-02-01"),
    ("13/12/2018", "2018-12-13"),
    ("01/02/1900", "1900-02-01"),  # the years a document's date can be
    ("01/02/1899", None),
    ("01/02/2100", "2100-02-01"),
    ("01/02/2101", None),
    ("GA06-07 - 6/24", None),  # mixed separators are a code, not a date
    ("TOTAL 9.00", None),
    ("", None),
]


@pytest.mark.parametrize(("text", "iso"), DATES)
def test_dates(text: str, iso: str | None) -> None:
    assert normalize("date", text) == iso


def test_month_first_when_asked() -> None:
    from pipeline.fields.normalize import normalize_date

    assert normalize_date("3/1/2019", day_first=False) == "2019-03-01"


AMOUNTS = [
    ("9.00", "9.00"),
    ("RM 9.00", "9.00"),
    ("RM9.00", "9.00"),
    ("$1,234.56", "1234.56"),
    ("1.234,56 €", "1234.56"),
    ("1 234,50", "1234.50"),
    ("1'234.50", "1234.50"),
    ("1’234.50", "1234.50"),  # a typographic apostrophe groups thousands too
    ("1500", "1500.00"),
    ("9,00", "9.00"),
    ("1,234", "1234.00"),
    ("(12.00)", "-12.00"),
    ("-RM0.02", "-0.02"),
    ("Total: 343.95", "343.95"),
    ("12", "12.00"),
    ("0.125", "0.125"),
    ("1 PC 9.000", "9.00"),
    ("1.234", "1.234"),
    ("no amount", None),
    ("½", None),  # a quantity: NFKC's "1⁄2" holds no amount "2"
    ("3½ kg", None),
]


@pytest.mark.parametrize(("text", "value"), AMOUNTS)
def test_amounts(text: str, value: str | None) -> None:
    assert normalize("amount", text) == value


@pytest.mark.parametrize(
    ("text", "currency"),
    [("RM 9.00", "MYR"), ("$5", "USD"), ("12,50 EUR", "EUR"), ("£3.20", "GBP"), ("9.00", None)],
)
def test_currency_is_read_from_the_amount(text: str, currency: str | None) -> None:
    assert find_amounts(text)[-1][0].currency == currency


def test_two_amounts_keep_their_own_currency() -> None:
    amounts = find_amounts("RM 60.30 RM 61.00")
    assert [(str(a), a.currency) for a, _ in amounts] == [("60.30", "MYR"), ("61.00", "MYR")]


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("number", "Qty: 3", "3"),
        ("number", "2.50", "2.5"),
        ("number", "1000", "1000"),  # never 1E+3
        ("id", "AX-12X", "AX-12X"),
        ("string", "ACME Ltd:; ", "ACME Ltd"),
        ("id", " #INV-2026-0042. ", "INV-2026-0042"),
        ("string", "  ACME   Ltd ", "ACME Ltd"),
        ("string", "ＡＣＭＥ", "ACME"),
        ("string", "FEDEX", "FEDEX"),  # only punctuation leaves a name's ends
    ],
)
def test_other_types(kind: str, text: str, value: str) -> None:
    assert normalize(kind, text) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("1.5", "1.50"),
        ("1E+3", "1000.00"),
        ("0.125", "0.125"),
        ("2.5E-4", "0.00025"),
        ("1.234E-7", "0.0000001234"),  # a price per unit of energy: never in E notation
    ],
)
def test_decimals_print_two_places_and_more_only_when_needed(value: str, text: str) -> None:
    assert format_decimal(Decimal(value)) == text


def test_comparable_text_drops_case_accents_and_spacing_around_punctuation() -> None:
    """How a table cell's words are checked against its ground truth (icdar eval)."""
    assert comparable("  Café  MÜLLER , Inc. ;") == "cafe muller,inc"
    assert comparable("a / b - c") == "a/b-c"
    assert comparable("a b") != comparable("ab")  # spaces between words still count


def test_unknown_type_is_named() -> None:
    with pytest.raises(ValueError, match="colour"):
        normalize("colour", "red")


@pytest.mark.parametrize(
    ("kind", "predicted", "expected", "same"),
    [
        ("string", "Café  Müller GmbH.", "CAFE MULLER GMBH", True),  # case, accents, spacing
        ("string", "75, Jalan SS 22/19", "75. JALAN SS 22-19", True),  # punctuation
        ("string", "SANYUSTATIONERYSHOP", "SANYU STATIONERY SHOP", True),  # spaces
        ("string", "ACME Ltd", "ACME Limited", False),
        ("string", "NO.55 JALAN", "NO.53 JALAN", False),
        ("string", "", "", False),  # nothing read is never right
        ("id", "INV-0042", "inv 0042", True),
        ("id", "#INV-0042.", "INV-0042", True),
        ("id", "INV-0042", "INV-0043", False),
        ("date", "5 March 2018", "2018-03-05", True),
        ("amount", "RM 1,234.50", "1234.5", True),
        ("amount", "1,234.50", "1234.05", False),
    ],
)
def test_same_value_compares_as_eval_scores(
    kind: str, predicted: str, expected: str, same: bool
) -> None:
    assert same_value(kind, predicted, expected) is same


@pytest.mark.parametrize(
    ("texts", "day_first"),
    [
        (["Date 11/03/2017", "Paid 11/17/2017"], False),
        (["Date 11/03/2017", "Paid 17.11.2017"], True),
        (["Date 11/03/2017"], True),  # nothing settles it
        (["11/17/2017", "17/11/2017"], True),  # a document that contradicts itself
        (["11/17/17"], False),  # a two-digit year with slashes counts
        (["Tel 04-50-44", "Date 11/03/2017"], True),  # dashes and two digits: a phone number
        (["13/13/2017", "11/32/2017", "00/13/2017"], True),  # no order reads these
        ([], True),
    ],
)
def test_a_document_s_date_order_is_settled_by_its_unambiguous_dates(
    texts: list[str], day_first: bool
) -> None:
    from pipeline.fields.normalize import day_first_in

    assert day_first_in(texts) is day_first
