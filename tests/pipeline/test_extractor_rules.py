"""The extractor's rules at their edges: what counts as a key's value, an id, a seller's
line, a table row, a document's currency (pins the rules' edges that the real pages of
test_extractive do not reach)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from pipeline.engines.base import FieldSpec, Question
from pipeline.engines.candidates import field_candidates
from pipeline.engines.extractive import ExtractiveEngine, find_field
from pipeline.engines.keyvalue import Found, find_keys, key_index
from pipeline.engines.layout_rules import labels_a_name
from pipeline.engines.readers import amount_of, first_date, last_amount
from pipeline.fields.schemas import load_schema
from pipeline.layout import Line, group_lines
from pipeline.types import Box, Word
from tests.pipeline.test_extractive import _page_of_lines
from tests.pipeline.test_ranker import _page

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
        (("NORTHWIND PIZZA SDN A06103 BHD", "12 Jalan Besar"), "NORTHWIND PIZZA SDN BHD"),
        (  # the brand's logo, then its name in full with the branch's
            ("NORTHWIND PIZZA", "GST REF NO: 001694", "NORTHWIND PIZZA TAMAN JAYA", "30, Jln 7"),
            "NORTHWIND PIZZA TAMAN JAYA",
        ),
        (("NORTHWIND PIZZA", "NORTHWIND PIZZA 2 FOR 1", "30, Jln 7"), "NORTHWIND PIZZA"),
        (("Riverside Dental", "Pinecrest Supply Co.", "Dayton, OH"), "Pinecrest Supply Co."),
        (("BHPetrol Subang Airport", "Co. Reg. No: 000948487-V"), "BHPetrol Subang Airport"),
    ],
)
def test_the_seller_s_line(rows: tuple[str, ...], vendor: str) -> None:
    """The seller is the top wordy line, without the registration number or a stamp's
    code printed across the name, and in full where a line under it repeats it with more
    words (not with numbers); a line of prose is no form's label for some other detail."""
    assert _read("vendor", _rows(*rows)) == vendor


def _stacked(*rows: tuple[float, float, str]) -> list[list[Line]]:
    """A one-page document of lines given as (x, y, text) (test_ranker's layout)."""
    return [group_lines(_page(list(rows)).words)]


@pytest.mark.parametrize(
    ("rows", "vendor"),
    [
        (  # the legal name's first line above it
            ((0.1, 0.10, "MVM Musterhafter"), (0.1, 0.12, "Versicherungsverein Muster a.G."),
             (0.1, 0.14, "Musterstr. 12")),
            "MVM Musterhafter Versicherungsverein Muster a.G.",
        ),
        (  # the name found without its legal form, which was wrapped onto the next line
            ((0.1, 0.38, "MVM Musterhafter"), (0.1, 0.40, "Versicherungsverein Muster a.G.")),
            "MVM Musterhafter Versicherungsverein Muster a.G.",
        ),
        (((0.1, 0.05, "Hausverwaltung Nord"), (0.1, 0.10, "Muster GmbH")), "Muster GmbH"),  # apart
        # not aligned
        (((0.3, 0.08, "Hausverwaltung Nord"), (0.1, 0.10, "Muster GmbH")), "Muster GmbH"),
        (((0.1, 0.08, "Filiale 12"), (0.1, 0.10, "Muster GmbH")), "Muster GmbH"),  # a number
        (((0.1, 0.08, "Verkäufer:"), (0.1, 0.10, "Muster GmbH")), "Muster GmbH"),  # a label
        (((0.1, 0.08, "Hausverwaltung Nord"), (0.1, 0.10, "Muster GmbH Berlin")),
         "Muster GmbH Berlin"),  # the legal form does not end the name
        (((0.1, 0.38, "Hausverwaltung Nord"), (0.1, 0.40, "Musterstadt")), "Hausverwaltung Nord"),
    ],
)  # fmt: skip
def test_a_name_wrapped_before_its_legal_form_is_read_whole(
    rows: tuple[tuple[float, float, str], ...], vendor: str
) -> None:
    """A seller's name set over two lines is one name when the lines read as one paragraph
    (same start, no gap) and the second ends in the legal form; other lines stay apart."""
    assert _read("vendor", _stacked(*rows)) == vendor


def test_the_seller_is_not_in_the_block_a_buyer_s_label_heads() -> None:
    """A buyer's name carries a legal form its seller's lacks: the block "Factuur aan:"
    heads is passed over for the seller, whose name tops the page."""
    page = _stacked(
        (0.1, 0.05, "Studio Van Leeuwen"),
        (0.1, 0.20, "Factuur aan:"),
        (0.1, 0.23, "Bakkerij De Molen BV"),
    )
    assert _read("vendor", page) == "Studio Van Leeuwen"
    assert _read("customer", page) == "Bakkerij De Molen BV"


def test_a_date_after_the_most_specific_key() -> None:
    """ "Date de facture" names the issue date; a bare "Date" (inside "Date d'échéance"
    here) is read only where no longer label is printed."""
    rows = _rows("Date d'échéance 05/12/2017", "Date de facture 05/11/2017")
    assert _read("issue_date", rows) == "05/11/2017"
    assert _read("issue_date", _rows("Date 05/11/2017")) == "05/11/2017"


def test_the_seller_is_read_in_the_block_its_label_heads() -> None:
    """Under "Verkäufer:" the seller's name follows its number, below the top of the page;
    the legal name printed first elsewhere (the buyer's) is not the seller."""
    page = _stacked(
        (0.1, 0.10, "Muster-Kunde GmbH"),
        (0.1, 0.30, "Verkäufer:"),
        (0.1, 0.34, "Nummer: 549910"),
        (0.1, 0.38, "Rohstoff AG Salzgitter"),
        (0.1, 0.42, "Marktstr. 153"),
    )
    assert _read("vendor", page) == "Rohstoff AG Salzgitter"
    unlabelled = _stacked((0.1, 0.10, "Muster-Kunde GmbH"), (0.1, 0.34, "Rohstoff AG"))
    assert _read("vendor", unlabelled) == "Muster-Kunde GmbH"


def test_the_buyer_is_read_in_the_block_its_label_heads() -> None:
    """Under a buyer's label alone on its line (two joined by a slash here) or in its
    column (beside other column heads) the buyer's name follows its number and ids, after
    a form's "Name:"; the seller's legal name printed first is not the buyer. A page
    without such a block reads the name after the buyer's key as before."""
    page = _stacked(
        (0.1, 0.10, "Lieferant GmbH"),
        (0.1, 0.30, "Käufer/Leistungsempfänger:"),
        (0.1, 0.33, "Nummer: 16259"),
        (0.1, 0.36, "Globale Nummer: 4304171000002 (GTIN)"),
        (0.1, 0.39, "Name: ConsultingService GmbH"),
        (0.1, 0.42, "Anschrift: Musterstr. 18"),
    )
    assert _read("customer", page) == "ConsultingService GmbH"
    beside_other_heads = _stacked(
        (0.1, 0.30, "BILL TO"),
        (0.5, 0.30, "INVOICE NUMBER"),
        (0.1, 0.33, "Orchard Labs Inc."),
        (0.5, 0.33, "2026-117"),
    )
    assert _read("customer", beside_other_heads) == "Orchard Labs Inc."
    assert _read("customer", _rows("Lieferant GmbH", "Client : Hôtel Saint Denis")) == (
        "Hôtel Saint Denis"
    )


def test_a_key_run_into_its_value_reads_nothing_under_it() -> None:
    """ "Customer:2" prints the buyer's number in the key's own word: the line under it is
    the next field ("Your order AB321"), not the buyer, as it is under a key alone."""
    assert _read("customer", _rows("Customer:2", "Your order AB321")) is None
    assert _read("customer", _rows("Customer", "Theodor Est")) == "Theodor Est"
    assert _read("invoice_number", _rows("Invoice No:", "A-4711")) == "A-4711"


SELLER_BLOCK = (
    (0.6, 0.04, "Bei Spiel GmbH"),
    (0.6, 0.07, "Ecke 12"),
    (0.6, 0.10, "12345 Stadthausen"),
)


@pytest.mark.parametrize(
    ("rows", "name"),
    [
        (  # the seller's block beside it and its return address over it, a person
            (
                *SELLER_BLOCK,
                (0.1, 0.17, "Bei Spiel GmbH · Ecke 12 · 12345 Stadthausen"),
                (0.1, 0.20, "Herrn"),
                (0.1, 0.23, "Theodor Est"),
                (0.1, 0.26, "Bahnstr. 42"),
                (0.1, 0.29, "D-88802 Spielkreis"),
                (0.1, 0.36, "Customer:2"),
            ),
            "Herrn Theodor Est",
        ),
        (  # a delivery block above it, and a key that reads the buyer's tax id
            (
                (0.1, 0.04, "Au bon moulin SARL - 1242 chemin de l'olive - 84340 Malaucène"),
                (0.1, 0.11, "Adresse de livraison"),
                (0.1, 0.14, "Entrepôt Nord"),
                (0.1, 0.17, "2 rue du Port"),
                (0.1, 0.20, "13002 Marseille"),
                (0.55, 0.16, "Ma jolie boutique"),
                (0.55, 0.19, "35 rue de la République"),
                (0.55, 0.22, "69001 Lyon"),
                (0.1, 0.36, "N° TVA client FR19787878784"),
            ),
            "Ma jolie boutique",
        ),
        (  # lines set one and a half apart, the town before its state and ZIP code
            (
                *SELLER_BLOCK,
                (0.1, 0.20, "Orchard Labs Inc."),
                (0.1, 0.235, "400 Elm Street"),
                (0.1, 0.27, "Springfield, IL 62704"),
            ),
            "Orchard Labs Inc.",
        ),
        (
            (
                *SELLER_BLOCK,
                (0.1, 0.20, "Ana Costa Lda"),
                (0.1, 0.23, "Rua Augusta 9"),
                (0.1, 0.26, "1100-048 Lisboa"),
            ),
            "Ana Costa Lda",
        ),
        (SELLER_BLOCK, None),  # the seller's block is the only one
        ((*SELLER_BLOCK, (0.1, 0.20, "Theodor Est"), (0.1, 0.30, "Springfield, IL 62704")), None),
        (  # a street at the top of the block: its name was set too far above
            (
                *SELLER_BLOCK,
                (0.1, 0.20, "Theodor Est"),
                (0.1, 0.30, "Bahnstr. 42"),
                (0.1, 0.33, "88802 Spielkreis"),
            ),
            None,
        ),
    ],
)
def test_a_buyer_no_label_names_is_the_recipient_of_the_postal_block(
    rows: tuple[tuple[float, float, str], ...], name: str | None
) -> None:
    """With no buyer's label, the buyer is named at the top of the block set for an
    envelope's window (name, street, postcode and town in one column, lines close): not
    the seller's own block, nor one a delivery label heads; a name too far above its
    postcode is no block's."""
    assert _read("customer", _stacked(*rows)) == name


@pytest.mark.parametrize(
    "row",
    [
        "N° TVA client FR19787878784",
        "Customer VAT Number ESA12345674",
        "Facture à régler par virement sur le compte suivant :",
    ],
)
def test_a_buyer_s_key_that_reads_a_number_or_a_sentence_names_no_one(row: str) -> None:
    """A key for the buyer's tax id reads an identifier, and a buyer's label word in a
    sentence ("Facture à" in "Facture à régler ...") reads its rest: neither is a name."""
    assert _read("customer", _rows(row)) is None


@pytest.mark.parametrize(
    ("rows", "name"),
    [
        ([(0.1, 0.34, "Herrn"), (0.1, 0.37, "Max Mustermann")], "Herrn Max Mustermann"),
        ([(0.4, 0.34, "Herrn"), (0.1, 0.37, "Name: Max Mustermann")], "Herrn Max Mustermann"),
        ([(0.1, 0.34, "Beispielmieter GmbH"), (0.1, 0.37, "Musterstr. 1")], "Beispielmieter GmbH"),
    ],
)
def test_a_person_billed_is_named_with_the_salutation_over_the_name(
    rows: list[tuple[float, float, str]], name: str
) -> None:
    """ "Herrn" on the line over the buyer's name is part of it, as the invoice's e-invoice
    names the buyer; whichever of the two lines the block's reading lands on."""
    assert _read("customer", _stacked((0.1, 0.30, "Rechnungsempfänger"), *rows)) == name


@pytest.mark.parametrize(
    ("field", "row", "name"),
    [
        ("customer", "Bill to: Northwind Traders, 5 Mill Lane, Leeds", "Northwind Traders"),
        ("customer", "Customer: Smith, Jones & Co", "Smith, Jones & Co"),  # no number follows
        ("vendor", "Muster GmbH, Hauptstr. 1, 12345 Berlin", "Muster GmbH"),
        ("vendor", "Kestrel Design, Ltd.", "Kestrel Design, Ltd."),
        (
            "vendor",
            "Au bon moulin SARL - 1242 chemin de l'olive - 84340 Malaucène",
            "Au bon moulin SARL",
        ),
    ],
)
def test_a_name_ends_where_the_address_its_line_runs_on_into_begins(
    field: str, row: str, name: str
) -> None:
    """A party printed on one line with its address is read up to the comma or the
    letterhead's separator after which numbers start (the street, the postcode); a comma
    inside a name stays."""
    assert _read(field, _rows(row)) == name


@pytest.mark.parametrize(
    ("row", "total"),
    [
        ("Total TTC 1 234,56 €", "1 234,56"),  # a text layer splits it at its spaces
        ("Gesamtbetrag -1 234 567,89 EUR", "-1 234 567,89"),
        ("Total 1 150.00", "150.00"),  # a count before an amount with a decimal point
    ],
)
def test_an_amount_grouped_by_spaces_is_one_amount(row: str, total: str) -> None:
    """Thousands printed apart are one amount, read whole and offered whole."""
    lines = _stacked((0.1, 0.1, row))
    assert _read("total", lines) == total
    spec = INVOICE.field("total").spec()
    printed = {c.found.text for c in field_candidates(spec, lines, None)}
    assert total in printed and "234,56" not in printed
    apart = _stacked((0.1, 0.1, "Total 2"), (0.4, 0.1, "500,00"))  # a column apart
    assert _read("total", apart) == "500,00"


def test_a_value_ends_where_the_next_label_on_its_line_begins() -> None:
    """After "TVA :" come other fields of a letterhead ("SIRET :", a share capital): the
    tax is not the capital; a long key's words before its own colon are no label."""
    letterhead = _stacked(
        (0.1, 0.05, "TVA : FR11999999998 - SIRET : 99999999800010 - capital de 120 000,00 €"),
        (0.1, 0.50, "TVA 20% 19,00 €"),
    )
    assert _read("tax", letterhead) == "19,00"
    receipt = [
        group_lines(_page_of_lines("Total Sales (Inclusive of GST) : 6.36", "Cash 10.00").words)
    ]
    assert find_field(load_schema("receipt").field("total").spec(), receipt).text == "6.36"


def test_the_seller_s_line_without_the_title_across_the_page() -> None:
    """A title or contact detail printed on the seller's line, a column away, is no part of
    the name; a wide gap inside a name (OCR spaces large print so) keeps it whole."""
    titled = _stacked((0.1, 0.1, "Kestrel Design Ltd"), (0.7, 0.1, "INVOICE"))
    assert _read("vendor", titled) == "Kestrel Design Ltd"
    spaced = _stacked((0.1, 0.1, "THREE"), (0.3, 0.1, "STOOGES SDN BHD"))
    assert _read("vendor", spaced) == "THREE STOOGES SDN BHD"


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


@pytest.mark.parametrize(
    ("row", "number"),
    [
        ("Fatura n.º FT 2026/311", "FT 2026/311"),  # Portuguese: type code, series/number
        ("Fatura n.º FS B/1024", "FS B/1024"),  # a simplified invoice
        ("Invoice No. FR 2026-311", "2026-311"),  # no series: a code before it is no part
    ],
)
def test_a_portuguese_invoice_number_keeps_its_document_type_s_code(row: str, number: str) -> None:
    assert _read("invoice_number", _rows(row)) == number


@pytest.mark.parametrize(
    ("rows", "currency"),
    [
        # a "§" a text layer renders as "$", beside amounts whose "€" is a word apart
        (("Währung: EUR", "gemäß $4 Nr. 10a UStG", "Summe 12,77 €"), "EUR"),
        (("Rechnungswährung : GBP", "Währung der Umsatzsteuerbuchung : EUR", "EUR 163,16"), "GBP"),
        (("Currency: see terms", "Total $10.00"), "USD"),  # a label with no code after it
        (("gemäß $4 Nr. 10a UStG", "Netto 10,73 €", "Summe 12,77 €"), "EUR"),  # no label
    ],
)
def test_a_currency_printed_right_after_its_label_is_the_invoice_s(
    rows: tuple[str, ...], currency: str
) -> None:
    assert _read("currency", _rows(*rows)) == currency


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


def _answer(question: str, *rows: str) -> tuple[str, float | None]:
    """The extractive engine's answer to `question` about a page of `rows`."""
    [answer] = ExtractiveEngine().answer([_page_of_lines(*rows)], [Question(0, question)])
    return answer.text, answer.confidence


@pytest.mark.parametrize(
    ("question", "rows", "answer"),
    [
        ("What is the total?", ("Sub Total: pending",), ("", 0.0)),
        ("What is the total ?", ("Sub Total: pending",), ("", 0.0)),
        ("What is the FAX?", ("FAX: 07-5551234",), ("07-5551234", 1.0)),
    ],
)
def test_a_question_read_as_a_key_is_the_field_it_names(
    question: str, rows: tuple[str, ...], answer: tuple[str, float]
) -> None:
    """A question no field answers is looked up as the key it names, without its question
    mark (and no more: the X of "FAX" stays), and a key named like a field keeps that
    field's exclusions: the total is not the value printed after "Sub Total"."""
    assert _answer(question, *rows) == answer


@pytest.mark.parametrize(
    ("question", "schema", "field"),
    [
        ("What is the totl?", "invoice", "total"),  # a typo, close enough without its "?"
        ("What is the line item?", "invoice", "line_items"),  # the name, read with a space
        ("What are the line items?", "invoice", "line_items"),
        ("What is the date?", "invoice", "issue_date"),  # of equals, the first schema's
        ("What is the total?", "invoice", "total"),
    ],
)
def test_a_question_names_a_built_in_field(question: str, schema: str, field: str) -> None:
    """Questions are matched to fields by wording (ignoring the question mark, with a
    field's name read as words); of fields matched equally well the first listed is asked,
    so the same question always gets the same field's answer."""
    assert ExtractiveEngine().match_field(question) == load_schema(schema).field(field).spec()


def test_a_value_lies_on_the_page_its_words_are_printed_on() -> None:
    """A document given from its third page on still points at page 2, where the value's
    words are, not at the position of the page in the list."""
    lines = [group_lines(_page_of_lines("Customer: Ann Lee", index=2).words)]
    found = find_field(INVOICE.field("customer").spec(), lines)
    assert found is not None and (found.text, found.page) == ("Ann Lee", 2)


def test_a_page_s_key_index_is_built_once() -> None:
    """Every field and candidate looks keys up in the same index of the page (built once per
    page, not once per field: the cost of reading a page's fields)."""
    lines = group_lines(_page_of_lines("Total 12.50").words)
    index = key_index(lines)
    assert key_index(lines) is index and lines.memo == {"keys": index}


def _keys(key: str, *rows: str) -> list[tuple[int, str, list[str]]]:
    """Where `key` is found on a page of `rows`: line, key as printed, value words."""
    lines = group_lines(_page_of_lines(*rows).words)
    return [
        (hit.line, hit.key_text, [word.text for word in hit.value_words])
        for hit in find_keys(lines, key)
    ]


@pytest.mark.parametrize(
    ("key", "rows", "hits"),
    [  # a key printed as one more word than its label
        ("subtotal", ("Sub Total 127.50",), [(0, "Sub Total", ["127.50"])]),
        # a title with a word of the key missing does not hide the key below it
        ("Invoice No", ("INVOICE", "InvoiceNo: 4521"), [(1, "InvoiceNo:", ["4521"])]),
        # a single word is no key of three words, even when it runs them together
        ("date of issue", ("DATEOFISSUE", "03.11.2026"), []),
    ],
)
def test_keys_are_matched_across_one_word_more_or_less(
    key: str, rows: tuple[str, ...], hits: list[tuple[int, str, list[str]]]
) -> None:
    """A key is compared with runs of one word fewer to one more than it has, at every place
    on every line; a run too short to hold the whole key is passed over, not the line."""
    assert _keys(key, *rows) == hits


@pytest.mark.parametrize(
    ("rows", "total"),
    [
        (("SUB TOTAL 7.50", "TOTAL 7.00"), "7.00"),  # the word before the key
        (("Disc 2.00 Total 10.00", "Cash 20.00"), "10.00"),  # not two words before it
        (("Total 12.50 after discount", "Cash 20.00"), "12.50"),  # nor three after it
    ],
)
def test_qualifiers_of_a_total_key_are_read_next_to_it(rows: tuple[str, ...], total: str) -> None:
    """SUB before TOTAL names another amount; a qualifier further off (the discount earlier
    on the line, the one the total is after) belongs to another value, not the key."""
    assert _read("total", _rows(*rows)) == total


@pytest.mark.parametrize(
    ("row", "text", "words"),
    [
        ("Visit: 03.11.2026 at 10:00", "03.11.2026", ["03.11.2026"]),
        ("Visit: 3 Nov 2026", "3 Nov 2026", ["3", "Nov", "2026"]),
    ],
)
def test_a_date_is_read_from_just_its_words(row: str, text: str, words: list[str]) -> None:
    """A date printed as one word or three is read whole and grounded on its own words only
    (the box a user sees), not on the words around it."""
    found = find_field(FieldSpec("visit", "date", labels=("visit",)), _rows(row))
    assert found is not None and (found.text, [w.text for w in found.words]) == (text, words)


def test_a_date_printed_without_a_key_is_an_unsure_guess() -> None:
    """Without its key the rules take the first date printed, sure of it only at 0.6."""
    found = find_field(FieldSpec("visit", "date", labels=("visit",)), _rows("Printed 03.11.2026"))
    assert found is not None and (found.text, found.score) == ("03.11.2026", 0.6)


@pytest.mark.parametrize("row", ["Table 12 Time 9:30", "Table 12 Guests:4"])
def test_a_number_is_not_read_from_a_time_or_a_label_run_into_its_number(row: str) -> None:
    """Words with a colon inside (a time, "Guests:4") are no amount: the number after the
    key is."""
    found = find_field(FieldSpec("table", "number", labels=("table",)), _rows(row))
    assert found is not None and found.text == "12"


def test_a_value_with_no_amount_ranks_below_every_amount() -> None:
    """Among values read as amounts, one whose text holds none (an OCR word whose normal
    form is longer than itself, "№5") sorts below all others instead of failing."""
    assert amount_of(Found("", 0, [], 1.0)) == float("-inf")
    assert amount_of(Found("-12.50", 0, [], 1.0)) == -12.5


@pytest.mark.parametrize(
    ("reader", "texts", "value"),
    [
        (last_amount, ("Total", "№5"), "5"),  # "№" is "No" once cleaned: one character more
        (first_date, ("№", "03.11.2026"), "03.11.2026"),
        (last_amount, ("１２．５０",), "12.50"),  # fullwidth OCR digits
    ],
)
def test_a_value_is_cut_from_the_cleaned_text_it_was_found_in(
    reader: Callable[[list[Word], int, float], Found | None],
    texts: tuple[str, ...],
    value: str,
) -> None:
    """Amounts and dates are found in the NFKC-cleaned text; cut from the raw word, a
    character that cleaning lengthens shifted the cut ("Total №5" read as "")."""
    words = [Word(text, Box(0, 0.2 * n, 0.1, 0.2 * n + 0.15, 0.12)) for n, text in enumerate(texts)]
    found = reader(words, 0, 1.0)
    assert found is not None and found.text == value
