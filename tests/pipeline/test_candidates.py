"""What the candidates' features promise the ranker.

pipeline.engines.candidates offers every value a field could take, each once, with
features in 0..1: where and how large it is printed (relative to its own page), the key
before it and whether the value sits under that key, how it is printed on its line (money
handed over or given back), where a name sits in the page's header and which label heads
it, and how an amount or date relates to the document's others (rank, repeats, sums). A
feature that is 1.0 stays 1.0 however far its measure goes past the clip.
"""

from __future__ import annotations

from itertools import islice

import pytest

from pipeline.engines.base import FieldSpec, Question
from pipeline.engines.candidates import _dates_in
from pipeline.engines.extractive import ExtractiveEngine
from pipeline.types import Box, Page, TextSource, Word
from tests.pipeline.test_ranker import _page, candidates_of

TOTAL = FieldSpec("total", "amount", labels=("total",))


def _by_text(spec: FieldSpec, *pages: Page) -> dict[str, dict[str, float]]:
    return {c.found.text: c.features for c in candidates_of(spec, *pages)}


def _words_page(words: list[Word], index: int = 0) -> Page:
    return Page(index, 1000, 1400, 150, TextSource.PDF, words)


def test_money_handed_over_and_change_given_back_are_told_by_their_line() -> None:
    """A tender line's amount is often the total again; a change line's never is."""
    rows = [(0.1, 0.1, "TOTAL 12.50"), (0.1, 0.2, "CASH 20.00"), (0.1, 0.3, "CHANGE 7.50")]
    found = _by_text(TOTAL, _page(rows))
    lines = {text: (f["tender_line"], f["change_line"]) for text, f in found.items()}
    assert lines == {"12.50": (0.0, 0.0), "20.00": (1.0, 0.0), "7.50": (0.0, 1.0)}


def test_a_number_field_has_every_printed_number_ranked() -> None:
    """Number fields get the amounts' candidates and relations, as amount fields do."""
    found = _by_text(
        FieldSpec("boxes", "number"), _page([(0.1, 0.1, "Boxes 3"), (0.1, 0.2, "Pallets 12")])
    )
    assert {text: f["largest"] for text, f in found.items()} == {"3": 0.0, "12": 1.0}
    assert found["3"]["amount_rank"] == pytest.approx(0.2)


def test_fractions_are_quantities_and_hide_no_amount() -> None:
    """'½' and '½kg' are quantities, no amounts: the amount after them is ranked alone."""
    page = _page([(0.1, 0.1, "½ CHICKEN"), (0.1, 0.2, "SUGAR ½kg"), (0.1, 0.3, "PAY 12.50")])
    found = _by_text(TOTAL, page)
    assert list(found) == ["12.50"]
    assert (found["12.50"]["largest"], found["12.50"]["amount_rank"]) == (1.0, 0.0)


def test_an_amount_printed_more_than_four_times_repeats_fully() -> None:
    """repeats is count / 4, clipped at 1."""
    rows = [(0.1, 0.1 * row, f"ITEM{row} 5.00") for row in range(1, 6)]
    found = _by_text(TOTAL, _page([*rows, (0.1, 0.7, "TOTAL 25.00")]))
    assert (found["5.00"]["repeats"], found["25.00"]["repeats"]) == (1.0, 0.25)


def test_a_date_printed_more_than_four_times_or_after_four_others_counts_fully() -> None:
    """repeats and date_rank are count / 4 and rank / 4, clipped at 1."""
    issued = FieldSpec("issue_date", "date", labels=("date",))
    rows = [(0.1, 0.1 * row, f"Day{row} 0{row}.03.2026") for row in range(1, 7)]
    rows += [(0.5, 0.1 * row, "Due 01.03.2026") for row in range(1, 6)]
    found = _by_text(issued, _page(rows))
    assert (found["01.03.2026"]["repeats"], found["06.03.2026"]["date_rank"]) == (1.0, 1.0)


def test_a_zero_amount_is_no_part_of_a_sum() -> None:
    """Adding 0.00 to an amount makes the same amount: a zero tax is not a tax part."""
    page = _page([(0.1, 0.1, "Net 10.00"), (0.1, 0.2, "Tax 0.00"), (0.1, 0.3, "Total 10.00")])
    found = candidates_of(TOTAL, page)
    assert {(c.found.text, c.features["is_part"]) for c in found} == {("10.00", 0.0), ("0.00", 0.0)}


@pytest.mark.parametrize("offset", [(0.00002, 0.0), (0.0, 0.00002)])
def test_a_value_printed_twice_over_itself_is_one_candidate(offset: tuple[float, float]) -> None:
    """Fake bold (the text printed again a hair to the side) is one value, printed once."""
    dx, dy = offset
    words = [
        Word("TOTAL", Box(0, 0.1, 0.30001, 0.16, 0.31501)),
        Word("12.50", Box(0, 0.30001, 0.30001, 0.36, 0.31501)),
        Word("12.50", Box(0, 0.30001 + dx, 0.30001 + dy, 0.36 + dx, 0.31501 + dy)),
    ]
    found = [c for c in candidates_of(TOTAL, _words_page(words)) if c.found.text == "12.50"]
    assert len(found) == 1 and found[0].features["repeats"] == 0.25


def test_a_date_word_given_twice_is_read_twice_and_no_more() -> None:
    """Each printed date is read once; an exact duplicate word is a second printing."""
    date = Word("03.02.2024", Box(0, 0.1, 0.1, 0.22, 0.115))
    assert [found.text for found in islice(_dates_in([date, date], 0), 3)] == ["03.02.2024"] * 2


@pytest.mark.parametrize(("label", "length"), [("po", 0.15), ("purchase order number", 1.0)])
def test_key_length_is_the_key_s_characters_up_to_twenty(label: str, length: float) -> None:
    """Longer keys are more specific ("Po:" is 3 characters); twenty and more count alike."""
    page = _page([(0.1, 0.1, f"{label.title()}: 4711-A")])
    found = _by_text(FieldSpec("po", "id", labels=(label,)), page)
    assert found["4711-A"]["key_length"] == pytest.approx(length)


def test_a_value_on_the_line_right_under_its_key_is_below_it() -> None:
    """A value whose line touches its key's line from below is read as under the key."""
    words = [
        Word("Pay", Box(0, 0.1, 0.2, 0.136, 0.215)),
        Word("by", Box(0, 0.148, 0.2, 0.172, 0.215)),
        Word("04.03.2024", Box(0, 0.1, 0.215, 0.22, 0.23)),
    ]
    found = _by_text(FieldSpec("due_date", "date", labels=("pay by",)), _words_page(words))
    assert (found["04.03.2024"]["key_below"], found["04.03.2024"]["key_gap"]) == (1.0, 0.0)


@pytest.mark.parametrize(("scale", "height"), [(2, 2 / 3), (4, 1.0)])
def test_height_is_a_third_of_the_size_over_the_page_median_up_to_one(
    scale: int, height: float
) -> None:
    """A total printed large stands out; three times the body size and more count alike."""
    body = [Word(f"item{row}", Box(0, 0.1, 0.1 * row, 0.2, 0.1 * row + 0.01)) for row in (1, 2, 3)]
    total = Word("12.50", Box(0, 0.5, 0.5, 0.6, 0.5 + 0.01 * scale))
    found = _by_text(TOTAL, _words_page([*body, total]))
    assert found["12.50"]["height"] == pytest.approx(height)


def test_below_tallest_is_how_much_smaller_than_the_field_s_tallest_candidate() -> None:
    """The tallest candidate reads 0, the others the gap in `height`: a seller's name
    printed at twice the buyer's stands out whatever the page's body size."""
    words = [
        Word(text, Box(0, 0.1, y, 0.3, y + size))
        for text, y, size in (("Nordlicht", 0.05, 0.02), ("Kestrel", 0.2, 0.01))
    ]
    words += [
        Word(f"item{row}", Box(0, 0.1, 0.4 + 0.05 * row, 0.2, 0.41 + 0.05 * row)) for row in (1, 2)
    ]
    found = _by_text(FieldSpec("vendor"), _words_page(words))
    assert found["Nordlicht"]["below_tallest"] == 0.0
    assert found["Kestrel"]["below_tallest"] == pytest.approx(
        found["Nordlicht"]["height"] - found["Kestrel"]["height"]
    )
    assert found["Kestrel"]["below_tallest"] == pytest.approx(1 / 3)


def test_values_on_a_later_page_say_so_and_a_blank_page_is_no_obstacle() -> None:
    """later_page is 1 from the second page on; a page without words has no median."""
    pages = [
        _page([(0.1, 0.1, "Net 10.00")], index=0),
        _page([(0.1, 0.1, "Total 12.00")], index=1),
        _words_page([], index=2),
    ]
    found = _by_text(TOTAL, *pages)
    assert (found["10.00"]["later_page"], found["12.00"]["later_page"]) == (0.0, 1.0)


def test_a_later_page_read_on_its_own_has_no_median_height() -> None:
    """A question about page 2 reads that page alone, under its own index: no median is
    known for it, so height reads 0 rather than failing."""
    page = _page([(0.1, 0.1, "Total 12.00")], index=1)
    found = _by_text(TOTAL, page)
    assert (found["12.00"]["height"], found["12.00"]["later_page"]) == (0.0, 1.0)
    [answer] = ExtractiveEngine().answer([page], [Question(1, "What is the total?")])
    assert answer.text == "12.00"


def test_an_address_after_its_key_is_a_keyed_candidate() -> None:
    """Address runs add to the keyed values; they do not replace them."""
    page = _page([(0.1, 0.1, "ACME Ltd"), (0.1, 0.5, "Address: 5 Mill Lane")])
    found = _by_text(FieldSpec("address", labels=("address",)), page)
    assert found["5 Mill Lane"]["has_key"] == 1.0


def test_a_salutation_before_a_one_word_name_is_a_salutation() -> None:
    """'Herrn Müller' starts with a salutation: a person's name follows."""
    page = _page([(0.1, 0.1, "Herrn Müller"), (0.1, 0.2, "Hauptstr. 1")])
    found = _by_text(FieldSpec("customer"), page)
    assert (found["Herrn Müller"]["salutation"], found["Herrn Müller"]["salutation_only"]) == (
        1.0,
        0.0,
    )


def test_words_count_up_to_ten() -> None:
    """A value's word count over ten, clipped at 1: a name is rarely a sentence."""
    line = "Muster Handel und Vertrieb für Büro und Schreibwaren aller Art in Berlin"
    found = _by_text(FieldSpec("vendor"), _page([(0.05, 0.1, line)]))
    assert found[line]["words"] == 1.0


def test_a_four_letter_line_is_a_header_line() -> None:
    """'ACME' has letters enough to be a name: it is the header's first line."""
    page = _page([(0.1, 0.1, "ACME"), (0.1, 0.2, "Hauptstr 1")])
    found = _by_text(FieldSpec("vendor"), page)
    assert (found["ACME"]["header_order"], found["Hauptstr 1"]["header_order"]) == (0.0, 1 / 24)


@pytest.mark.parametrize("label", ["Verkäufer", "Auftragnehmer"], ids=["built-in", "own"])
def test_a_label_is_no_name_but_the_name_beside_it_is(label: str) -> None:
    """A block's label is skipped, a built-in one ("Verkäufer") or one of a user's schema
    ("Auftragnehmer"), and the column after it still read."""
    page = _page([(0.1, 0.1, label), (0.6, 0.1, "Lieferant GmbH")])
    found = _by_text(FieldSpec("vendor", labels=(label.casefold(),)), page)
    assert label not in found
    assert found["Lieferant GmbH"].get("header_order") == 0.0


def test_a_label_of_another_field_is_no_name() -> None:
    """A table's "Total HT" or a form's "Date de facture" names no customer, even with no
    key of the customer's on the page; a name holding a label's word still does."""
    rows = [(0.1, 0.1, "Total HT"), (0.3, 0.2, "Date de facture"), (0.5, 0.3, "Total Foods")]
    rows.append((0.7, 0.4, "TotalTTC"))  # run together by OCR: still a label
    found = _by_text(FieldSpec("customer", labels=("client",)), _page(rows))
    assert list(found) == ["Total Foods"]


TABLE_HEADER = ["Ma", "Qté", "PU", "Rem.", "Prix", "TVA"]  # 5 other cells: still 1


@pytest.mark.parametrize(
    ("rows", "cells"),
    [
        ([(0.1, 0.1, "Ma boutique")], 0.0),
        ([(0.1, 0.1, "Ma boutique"), (0.6, 0.1, "ACME SARL")], 0.25),  # two parties' names
        ([(0.1 + 0.14 * n, 0.1, text) for n, text in enumerate(TABLE_HEADER)], 1.0),
    ],
    ids=["alone", "beside-another", "table-header"],
)
def test_row_cells_count_the_other_cells_of_a_name_s_line(
    rows: list[tuple[float, float, str]], cells: float
) -> None:
    """A quarter for each other cell on the line, up to one: a table's header row is full."""
    found = _by_text(FieldSpec("customer", labels=("client",)), _page(rows))
    assert found["Ma boutique" if cells < 1 else "Ma"]["row_cells"] == cells


def test_a_key_in_a_table_s_header_row_counts_the_row_s_cells() -> None:
    """A table's "Total" column heads each row's amount (4 cells: 0.75, however few the
    row's own); the document's "Total" beside its amount has one cell besides its own."""
    header = [(0.1, 0.1, "Qty"), (0.3, 0.1, "Item"), (0.6, 0.1, "Price"), (0.8, 0.1, "Total")]
    rows = [*header, (0.3, 0.12, "Pens"), (0.8, 0.12, "3.00")]
    rows += [(0.6, 0.3, "Total"), (0.8, 0.3, "9.00")]
    found = _by_text(TOTAL, _page(rows))
    assert (found["3.00"]["key_row_cells"], found["9.00"]["key_row_cells"]) == (0.75, 0.25)


def test_a_label_inside_a_longer_label_is_that_label_s_key() -> None:
    """ "Tax" in "Sales Tax" is no key of its own: no word runs into the field's key, and
    the value is read once, after the longer label."""
    tax = FieldSpec("tax", "amount", labels=("tax", "sales tax"))
    found = _by_text(tax, _page([(0.1, 0.3, "Sales Tax (8.25%)"), (0.6, 0.3, "97.35")]))
    features = found["97.35"]
    assert (features["key_in_phrase"], features["key_length"]) == (0.0, 0.45)


@pytest.mark.parametrize("row", ["USt. 19 % 850,00", "USt. 19% 850,00", "USt. (19%) 850,00"])
def test_a_rate_is_no_amount(row: str) -> None:
    """A number a percent sign follows is a tax's rate, not money: neither a candidate for
    the tax nor the value its key reads."""
    tax = FieldSpec("tax", "amount", labels=("ust",))
    found = _by_text(tax, _page([(0.1, 0.3, row)]))
    assert list(found) == ["850,00"]
    assert found["850,00"]["rule_choice"] == 1.0
    assert list(_by_text(tax, _page([(0.1, 0.3, "USt. 19 %")]))) == []


def test_a_credit_note_s_amounts_rank_by_their_size() -> None:
    """A credit note prints its amounts negative: its total is still the largest (in size)
    and the sum, the net the larger of its parts, and the rules read the total."""
    rows = [(0.1, 0.6, "Net -218.48"), (0.1, 0.65, "VAT -14.99"), (0.1, 0.7, "Total -233.47")]
    found = _by_text(TOTAL, _page(rows))
    total, net = found["-233.47"], found["-218.48"]
    assert (total["largest"], total["amount_rank"], total["is_sum"]) == (1.0, 0.0, 1.0)
    assert (net["amount_rank"], net["larger_part"], found["-14.99"]["larger_part"]) == (
        0.2,
        1.0,
        0.0,
    )
    keyed_twice = _by_text(
        FieldSpec("total", "amount", labels=("total", "amount")),
        _page([(0.1, 0.6, "Amount -14.99"), (0.1, 0.7, "Total -233.47")]),
    )
    assert keyed_twice["-233.47"]["rule_choice"] == 1.0


def test_a_value_under_a_column_head_with_more_rows_under_it_is_a_table_s_row() -> None:
    """Under a VAT table's "Net" head, each rate's net is a row (another amount follows in
    the column); a head over one amount alone, or a value beside its key, has no rows."""
    subtotal = FieldSpec("subtotal", "amount", labels=("net",))
    table = [(0.1, 0.1, "Rate"), (0.3, 0.1, "Net"), (0.1, 0.12, "7%"), (0.3, 0.12, "160.00")]
    table += [(0.1, 0.14, "19%"), (0.3, 0.14, "336.00"), (0.1, 0.3, "Net 496.00")]
    found = _by_text(subtotal, _page(table))
    rows = {
        text: found[text].get("key_column_rows", 0.0) for text in ("160.00", "336.00", "496.00")
    }
    assert rows == {"160.00": 1.0, "336.00": 0.0, "496.00": 0.0}
    alone = _by_text(subtotal, _page(table[:4]))
    assert alone["160.00"]["key_column_rows"] == 0.0


@pytest.mark.parametrize(
    ("row", "in_phrase"),
    [
        ("Steuerbevollmächtigter des Verkäufers: Global Services", 1.0),  # the seller's agent
        ("Verkäufer: Global Services", 0.0),
        ("12 Verkäufer: Global Services", 0.0),  # a number before the key is no phrase
    ],
)
def test_a_key_that_ends_a_longer_label_is_in_a_phrase(row: str, in_phrase: float) -> None:
    """The key's last word before it, on its line and in its column, holds letters."""
    found = _by_text(FieldSpec("vendor", labels=("verkäufer",)), _page([(0.1, 0.1, row)]))
    assert found["Global Services"]["key_in_phrase"] == in_phrase


def test_a_word_a_column_away_runs_into_no_key() -> None:
    """A word in the column before the key's is another cell, not part of its label."""
    page = _page([(0.1, 0.1, "Details"), (0.4, 0.1, "Verkäufer: Global Services")])
    found = _by_text(FieldSpec("vendor", labels=("verkäufer",)), page)
    assert found["Global Services"]["key_in_phrase"] == 0.0


def test_an_id_is_valid_when_it_holds_a_digit() -> None:
    """A customer number field's header lines are candidates, but a name is no valid id."""
    page = _page([(0.1, 0.1, "Northwind Traders"), (0.1, 0.2, "Customer No. 4711")])
    found = _by_text(FieldSpec("customer", "id", labels=("customer no.",)), page)
    assert (found["Northwind Traders"]["type_valid"], found["4711"]["type_valid"]) == (0.0, 1.0)


def test_a_value_of_nothing_but_colons_is_no_candidate() -> None:
    """OCR can read a run of colons as one word; under a key it spells no value, and the
    key's next occurrence still gives its own."""
    reference = FieldSpec("reference", "string", labels=("reference",))
    words = [
        Word("Reference", Box(0, 0.1, 0.1, 0.2, 0.12)),
        Word(": :", Box(0, 0.1, 0.13, 0.13, 0.15)),
        Word("Reference", Box(0, 0.1, 0.5, 0.2, 0.52)),
        Word("PO-77", Box(0, 0.21, 0.5, 0.27, 0.52)),
    ]
    assert [c.found.text for c in candidates_of(reference, _words_page(words))] == ["PO-77"]
