"""Candidate values for a field, and the features a ranker tells them apart by.

The rules (pipeline.engines.extractive.find_field) settle on one value per field; a ranker
needs the alternatives too: the value after every key that names the field (keys whose
qualifiers name another value included, flagged), every date or amount printed for fields
of those types, and the top-of-page lines for names no key announces. Each candidate
carries features of how it is printed (where on the page, font size relative to the page,
the key before it and where that key sits) and of how it relates to the document's other
values (the largest amount, the sum of two others, the earliest date). All features lie
in 0..1 so that one set of weights reads them alike on every layout.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TypeVar

from pipeline.engines.address_blocks import address_runs
from pipeline.engines.base import FieldSpec
from pipeline.engines.keyvalue import (
    Found,
    KeyHit,
    column_cells,
    has_digit,
    one_column,
    words_under,
)
from pipeline.engines.layout_rules import (
    ADDRESS_STOP,
    ALIGNED,
    BLOCK_LINES,
    COMPANY_SUFFIX,
    NAME_FIELDS,
    SALUTATION,
    SELLER_FIELDS,
    SEPARATOR,
    invoice_field,
    is_builtin_label,
    labels_a_name,
    leading_label,
    line_index,
)
from pipeline.engines.legal_mentions import stated_forms, without_stated_form
from pipeline.engines.readers import (
    FINAL_AMOUNT_KEY,
    Reader,
    excluded,
    first_date,
    has_decimals,
    id_shaped,
    key_hits,
    value_reader,
)
from pipeline.engines.tax_rates import cents, line_amounts, rate_taxes
from pipeline.fields.normalize import date_orders, normalize, read_day_first
from pipeline.layout import Line, per_page
from pipeline.types import Word

FEATURES = (
    "rule_choice",  # the value the rules settle on
    "has_key",
    "key_score",  # how closely the printed key matches the label
    "key_length",  # longer keys are more specific ("Rechnungsnummer" vs "Nr")
    "key_below",  # the value sits on the line under its key
    "key_gap",  # horizontal distance from the key's end to the value
    "key_excluded",  # the key's qualifiers name another value ("SUB TOTAL")
    "key_final",  # the key names the amount finally due ("Amount due")
    "key_in_phrase",  # words run into the key ("Tax representative of the seller:")
    "key_row_cells",  # the key's line's other column cells: a table's "Total" column heads rows
    "key_column_rows",  # the key's column prints another value under this one: a table's row
    "y",
    "x",
    "later_page",
    "height",  # word height relative to the page's median
    "below_tallest",  # how much smaller it is printed than the field's tallest candidate
    "words",
    "length",  # characters, up to 40: a name is rarely as short as "EUR"
    "digits",  # share of the value's characters that are digits
    "capitals",  # share of its letters that are capitals
    "type_valid",
    "repeats",  # how often the same value is printed in the document
    "amount_rank",  # 0 for the largest amount, rising by 0.2 per rank
    "largest",
    "is_sum",  # equals the sum of two other amounts printed (total = net + tax)
    "is_part",  # adds to another amount to make a third one printed (net, tax)
    "larger_part",  # the larger of two such parts (net rather than tax)
    "rate_share",  # a rate on its line times another amount: a tax ("TVA 20% 81,90 16,38")
    "rate_total",  # the sum of two or more such amounts: the taxes of two rates together
    "decimals",
    "date_rank",  # 0 for the earliest date, rising by 0.25 per rank
    "earliest",
    "latest",
    "header_order",  # among the top-of-page lines, 0 for the first
    "company_suffix",
    "contact_words",  # the line holds phone, e-mail, a title or other document details
    "under_label",  # one of the field's labels heads the block the line is in
    "number_word",  # follows "No.", "Nr.", "#", "Nummer"...
    "title_line",  # on the line naming the document ("Handelsrechnung Nr. ...")
    "tender_line",  # on a line of money handed over (cash, card): often the total again
    "change_line",  # on a line of change given back: never the total
    "two_lines",  # a name wrapped onto the line under it
    "under_other_label",  # a label of the other party heads the block ("Seller" for customer)
    "salutation",  # starts with "Herrn", "Mr", "Mme"...: a person's name follows
    "salutation_only",  # nothing but the salutation: the name is on the next line
    "name_label",  # a form's label for a name precedes it ("Name:", "Firma:", "Nom :")
    "letterhead_part",  # the first part of a letterhead line ("ACME GmbH - Hauptstr. 1 - ...")
    "row_cells",  # the line's other column cells: a table's header row has many, a name few
    "run_lines",  # an address: how many consecutive lines it spans
    "postcode_last",  # its last line holds a postcode
    "postcode_inside",  # a line before its last holds one: it runs on past the town
    "street_first",  # it starts as a street does ("No. 12", "Lot 5", "Jalan ...", a number)
    "under_company",  # the line above it carries a legal form or a registration number
    "numberless_first",  # its first line has no digit (a mall's or a building's name)
)
HEADER_SHARE = 0.6
MAX_HEADER_LINES = 24
UNDER_SLACK = 0.02  # a value under its key may start a little left of it
MAX_ROW_CELLS = 4  # a line of this many cells besides a name's is a table's row
NUMBER_WORD = re.compile(r"^(n[or]|n°|nº|#|num|number|nummer|numéro|número|numero)\.?:?$", re.I)
TENDER = re.compile(
    r"\b(cash|tender\w*|card|visa|master\w*|gegeben|bar|espèces|efectivo|contanti|"
    r"dinheiro|contant)\b",
    re.IGNORECASE,
)
CHANGE = re.compile(r"\b(change|rückgeld|rendu|cambio|resto|troco|wisselgeld)\b", re.IGNORECASE)
DOCUMENT_TITLE = re.compile(
    r"invoice|rechnung|gutschrift|facture|avoir|factuur|factura|fattura|fatura|credit\s*note|"
    r"receipt|quittung|reçu|recibo|ricevuta",
    re.IGNORECASE,
)


@dataclass
class Candidate:
    """A value a field could take, where it is printed, and what describes it."""

    found: Found
    features: dict[str, float] = field(default_factory=dict)

    def vector(self) -> list[float]:
        return [self.features.get(name, 0.0) for name in FEATURES]


def field_candidates(
    spec: FieldSpec, lines: list[list[Line]], chosen: Found | None
) -> list[Candidate]:
    """Every candidate for `spec` in the document (lines per page), each once; `chosen` is
    the rules' value, marked as such."""
    hits = key_hits(spec, lines)
    raw = [*_keyed(spec, hits, lines), *_printed(spec, lines), *_header(spec, lines, hits)]
    if spec.name == "address":
        raw += [Candidate(found, features) for found, features in address_runs(lines)]
    if chosen is not None:
        raw.append(Candidate(chosen, {"rule_choice": 1.0}))
    if spec.name in SELLER_FIELDS:
        raw = _without_stated_forms(raw, lines)
    candidates = _merged(raw)
    medians = [_median_height(page_lines) for page_lines in lines]
    for candidate in candidates:
        candidate.features.update(_appearance(spec, candidate.found, medians))
    _relate_heights(candidates)
    _relate_amounts(spec, candidates)
    _relate_rates(spec, candidates, lines)
    _relate_dates(spec, candidates, lines)
    return candidates


def _without_stated_forms(raw: list[Candidate], lines: list[list[Line]]) -> list[Candidate]:
    """A seller's names without the legal form the page states apart (legal_mentions)."""
    forms = stated_forms(lines)
    if not forms:
        return raw
    return [dataclasses.replace(c, found=without_stated_form(c.found, forms)) for c in raw]


def _keyed(
    spec: FieldSpec, hits: list[tuple[int, KeyHit]], lines: list[list[Line]]
) -> Iterator[Candidate]:
    """The value after each key, else the one under it: in a row of keys ("Invoice No.
    Date Due date") each key's value is printed beneath it, not after it."""
    read = value_reader(spec)
    for page, hit in hits:
        found = read(hit, page)
        if found is None:
            under = _under(hit, lines[page])
            found = read(under, page) if under is not None else None
        if found is not None:
            features = _key_features(spec, hit, found, lines[page][hit.line])
            if features["key_below"]:
                features["key_column_rows"] = float(_another_row(hit, found, lines[page], read))
            yield Candidate(found, features)


def _another_row(hit: KeyHit, found: Found, page_lines: list[Line], read: Reader) -> bool:
    """The key's column prints a value on the line after the value's too: the value is a
    table's row (one VAT rate's net amount), not the document's one value."""
    index = line_index(page_lines, found.words[0])
    below = words_under(page_lines, index, hit.key_words, reach_left=UNDER_SLACK)
    return bool(below) and read(dataclasses.replace(hit, value_words=below), found.page) is not None


def _under(hit: KeyHit, page_lines: list[Line]) -> KeyHit | None:
    """The key with, as its value, the words of the next line in the key's column."""
    below = words_under(page_lines, hit.line, hit.key_words, reach_left=UNDER_SLACK)
    return dataclasses.replace(hit, value_words=below) if below else None


def _key_features(spec: FieldSpec, hit: KeyHit, found: Found, key_line: Line) -> dict[str, float]:
    key_end, start = hit.key_words[-1].box, found.words[0].box
    below = start.y0 >= key_end.y1 - 0.002
    return {
        "has_key": 1.0,
        "key_score": hit.score,
        "key_length": min(len(hit.key_text) / 20, 1.0),
        "key_below": float(below),
        "key_gap": 0.0 if below else min(max(start.x0 - key_end.x1, 0.0) * 5, 1.0),
        "key_excluded": float(excluded(spec, hit)),
        "key_final": float(bool(FINAL_AMOUNT_KEY.search(hit.key_text))),
        "key_in_phrase": float(_in_phrase(hit)),
        "key_row_cells": _row_cells(key_line.words),
    }


def _in_phrase(hit: KeyHit) -> bool:
    """A word with letters runs into the key on its line: the key ends a longer label that
    may name something else ("Steuerbevollmächtigter des Verkäufers", the seller's tax
    representative, not the seller)."""
    if not hit.before_words:
        return False
    before = hit.before_words[-1]
    same_column = len(one_column([before, hit.key_words[0]])) == 2
    return same_column and any(char.isalpha() for char in before.text)


def _printed(spec: FieldSpec, lines: list[list[Line]]) -> Iterator[Candidate]:
    """Every date (for a date field) or amount (for an amount field) on the pages, and
    the id-shaped words after a number word or on the document's title line (for an id)."""
    for page, page_lines in enumerate(lines):
        if spec.type in ("amount", "number"):
            yield from _amounts(page_lines)
            continue
        for line in page_lines:
            if spec.type == "id":
                yield from _ids_in(line, page)
            elif spec.type == "date":
                yield from (Candidate(found) for found in _dates_in(line.words, page))


def _amounts(page_lines: list[Line]) -> Iterator[Candidate]:
    for line, amounts in line_amounts(page_lines):
        features = {
            "tender_line": float(bool(TENDER.search(line.text))),
            "change_line": float(bool(CHANGE.search(line.text))),
        }
        yield from (Candidate(found, dict(features)) for found in amounts)


def _ids_in(line: Line, page: int) -> Iterator[Candidate]:
    title = bool(DOCUMENT_TITLE.search(line.text))
    for index, word in enumerate(line.words):
        after_number = index > 0 and bool(NUMBER_WORD.match(line.words[index - 1].text))
        if (title or after_number) and _id_shaped(word.text):
            found = Found(word.text.strip(" :;,"), word.box.page, [word], 0.0)
            yield Candidate(found, {"number_word": float(after_number), "title_line": float(title)})


def _id_shaped(text: str) -> bool:
    """An id (readers.id_shaped) of three characters or more that is no money amount."""
    text = text.strip(" :;,")
    return len(text) >= 3 and id_shaped(text) and not re.fullmatch(r"[\d.,]*[.,]\d{2}", text)


def _dates_in(words: Sequence[Word], page: int) -> Iterator[Found]:
    start = 0
    while start < len(words):
        found = first_date(words[start:], page, 0.0)
        if found is None:
            return
        yield found
        start = words.index(found.words[-1], start) + 1


def _header(
    spec: FieldSpec, lines: list[list[Line]], hits: list[tuple[int, KeyHit]]
) -> Iterator[Candidate]:
    """For names no key need announce: each wordy line at the top of the first page, up to
    its first column gap, and whether one of the field's labels heads its block."""
    if spec.name not in NAME_FIELDS or not lines:
        return
    labelled = [hit for page, hit in hits if page == 0]
    others = [hit for page, hit in key_hits(_other_party(spec), lines) if page == 0]
    wordy = [
        (index, line)
        for index, line in enumerate(lines[0])
        if line.box.y0 < HEADER_SHARE
        and (sum(char.isalpha() for char in line.text) >= 4 or SALUTATION.match(line.text))
    ]
    keys = {id(word) for hit in (*labelled, *others) for word in hit.key_words}
    for order, (index, line) in enumerate(wordy[:MAX_HEADER_LINES]):
        cells = _row_cells(line.words)
        for span in _name_spans(lines[0], index):
            words = span.words
            if all(id(word) in keys for word in words) or is_builtin_label(words):
                continue  # a block's label ("Verkäufer") or another's ("Total HT"), not a name
            text = " ".join(word.text for word in words)
            yield Candidate(
                Found(text, line.page, words, 0.0),
                {
                    "header_order": order / MAX_HEADER_LINES,
                    "company_suffix": float(bool(COMPANY_SUFFIX.search(text))),
                    "contact_words": float(bool(ADDRESS_STOP.search(text))),
                    "under_label": float(any(_heads(hit, index, span) for hit in labelled)),
                    "two_lines": float(words[-1].box.y0 > words[0].box.y1),
                    "under_other_label": float(any(_heads(hit, index, span) for hit in others)),
                    "name_label": float(labels_a_name(span.label)),
                    "letterhead_part": float(span.part),
                    "row_cells": cells,
                },
            )


@dataclass(frozen=True)
class _Span:
    """Words that could be a name, the label before them on their line, and whether they
    are a letterhead's part."""

    words: list[Word]
    label: list[Word]
    part: bool = False

    @property
    def x0(self) -> float:
        """Where the span's column starts: at its label when it has one."""
        return (self.label or self.words)[0].box.x0


def _other_party(spec: FieldSpec) -> FieldSpec:
    """The labels of the party a name field is not: the buyer's for a seller's name."""
    return invoice_field("vendor" if spec.name == "customer" else "customer")


def _name_spans(page_lines: list[Line], index: int) -> Iterator[_Span]:
    """Each column segment of the line, and each joined with the segment right under it
    that starts at the same x (a name wrapped over two lines)."""
    below = list(_segments(page_lines[index + 1].words)) if index + 1 < len(page_lines) else []
    for span in _segments(page_lines[index].words):
        yield span
        for under in below:
            first = under.words[0]
            if abs(first.box.x0 - span.words[0].box.x0) < ALIGNED and not has_digit(first.text):
                yield dataclasses.replace(span, words=[*span.words, *under.words])


def _segments(words: list[Word]) -> Iterator[_Span]:
    """The line's column segments, each without a leading label ("Name: ..."), and a
    letterhead's name on its own; a segment that is nothing but a label ("Anschrift:")
    names no one."""
    while words:
        segment = one_column(words)
        words = words[len(segment) :]
        label = leading_label(segment)
        value = segment[len(label) :]
        if value[-1].text.endswith(":"):
            continue
        span = _Span(value, label)
        yield span
        cut = next((i for i, word in enumerate(value) if i and word.text in SEPARATOR), None)
        if cut is not None:
            yield dataclasses.replace(span, words=value[:cut], part=True)


def _row_cells(words: list[Word]) -> float:
    """The column cells the line's words fall into besides one, a quarter for each, up to
    1: a name or a key shares its line with one or two others, a table's header row more."""
    return min((len(column_cells(words)) - 1) / MAX_ROW_CELLS, 1.0)


def _heads(hit: KeyHit, index: int, span: _Span) -> bool:
    """The key is on a line just above (or is this line) and in the same column."""
    if not 0 <= index - hit.line <= BLOCK_LINES:
        return False
    key = hit.key_words[0].box
    return key.x0 < span.words[-1].box.x1 and span.x0 < key.x0 + 0.3


def _merged(raw: list[Candidate]) -> list[Candidate]:
    """One candidate per value and place: features of duplicates combine (the largest)."""
    merged: dict[tuple[int, str, float, float], Candidate] = {}
    for candidate in raw:
        found = candidate.found
        if not found.words or not found.text.strip():
            continue
        first = found.words[0].box
        key = (found.page, found.text, round(first.x0, 4), round(first.y0, 4))
        kept = merged.setdefault(key, Candidate(found))
        for name, value in candidate.features.items():
            kept.features[name] = max(kept.features.get(name, 0.0), value)
    return list(merged.values())


def _median_height(page_lines: list[Line]) -> float:
    heights = [word.box.y1 - word.box.y0 for line in page_lines for word in line.words]
    return statistics.median(heights) if heights else 0.0


def _appearance(spec: FieldSpec, found: Found, medians: list[float]) -> dict[str, float]:
    first = found.words[0].box
    height = statistics.median(word.box.y1 - word.box.y0 for word in found.words)
    median = medians[found.page] if found.page < len(medians) else 0.0
    letters = [char for char in found.text if char.isalpha()]
    salutation = bool(SALUTATION.match(found.words[0].text))
    return {
        "salutation": float(salutation and len(found.words) > 1),
        "salutation_only": float(salutation and len(found.words) == 1),
        "y": (first.y0 + first.y1) / 2,
        "x": first.x0,
        "later_page": float(found.page > 0),
        "height": min(height / median / 3, 1.0) if median else 0.0,
        "words": min(len(found.words) / 10, 1.0),
        "length": min(len(found.text) / 40, 1.0),
        "digits": sum(char.isdigit() for char in found.text) / len(found.text),
        "capitals": sum(char.isupper() for char in letters) / len(letters) if letters else 0.0,
        "type_valid": float(_valid(spec, found.text)),
        "decimals": float(has_decimals(found)),
    }


def _relate_heights(candidates: list[Candidate]) -> None:
    """Print size against the field's other candidates: a document prints the value that
    matters larger than its alternatives (the seller's name over the buyer's, the total
    over the lines), however large the page's print is overall."""
    tallest = max((c.features["height"] for c in candidates), default=0.0)
    for candidate in candidates:
        candidate.features["below_tallest"] = tallest - candidate.features["height"]


def _valid(spec: FieldSpec, text: str) -> bool:
    if spec.type == "id":
        return has_digit(text)
    return normalize(spec.type, text) is not None


def _relate_amounts(spec: FieldSpec, candidates: list[Candidate]) -> None:
    """Rank, repetition and arithmetic among the document's amounts (in cents, exact).
    Amounts rank by size: a credit note prints its total as its most negative amount."""
    if spec.type not in ("amount", "number"):
        return
    values = {id(c): cents(c.found.text) for c in candidates}
    printed = Counter(v for v in values.values() if v is not None)
    size, _ = _ranks([abs(value) for value in printed], descending=True)
    nonzero = [value for value in printed if value]
    sums = {a + b for a, b in combinations(nonzero, 2)}
    for candidate in candidates:
        value = values[id(candidate)]
        if value is None:
            continue
        parts = [other for other in nonzero if other != value and value + other in printed]
        candidate.features.update(
            amount_rank=min(size[abs(value)] / 5, 1.0),
            largest=float(size[abs(value)] == 0),
            repeats=min(printed[value] / 4, 1.0),
            is_sum=float(value in sums),
            is_part=float(bool(parts) and value != 0),
            larger_part=float(value != 0 and any(abs(value) > abs(other) for other in parts)),
        )


def _relate_rates(spec: FieldSpec, candidates: list[Candidate], lines: list[list[Line]]) -> None:
    """Whether an amount is a tax by its arithmetic (pipeline.engines.tax_rates)."""
    if spec.type not in ("amount", "number"):
        return
    taxes = rate_taxes(lines)
    for candidate in candidates:
        candidate.features.update(
            rate_share=float(taxes.is_share(candidate.found)),
            rate_total=float(taxes.is_total(candidate.found)),
        )


def lines_day_first(lines: list[list[Line]]) -> bool:
    """Whether the document (lines per page) writes its numeric dates day first
    (`day_first_in`); each page's dates are read once, however many date fields ask."""
    return read_day_first(
        frozenset().union(*(per_page(page, "dates", _date_orders) for page in lines))
    )


def _date_orders(lines: Sequence[Line]) -> frozenset[str]:
    return date_orders(line.text for line in lines)


def _relate_dates(spec: FieldSpec, candidates: list[Candidate], lines: list[list[Line]]) -> None:
    """Order and repetition among the document's dates (issue dates come first, due
    dates later), each read in the document's own day-month order."""
    if spec.type != "date":
        return
    day_first = lines_day_first(lines)
    values = {id(c): normalize("date", c.found.text, day_first=day_first) for c in candidates}
    rank, count = _ranks([v for v in values.values() if v is not None])
    for candidate in candidates:
        value = values[id(candidate)]
        if value is None:
            continue
        candidate.features.update(
            date_rank=min(rank[value] / 4, 1.0),
            earliest=float(rank[value] == 0),
            latest=float(rank[value] == len(rank) - 1),
            repeats=min(count[value] / 4, 1.0),
        )


Value = TypeVar("Value", int, str)


def _ranks(values: list[Value], *, descending: bool = False) -> tuple[dict[Value, int], Counter]:
    """Each distinct value's rank in order (0 first), and how often each is printed."""
    count = Counter(values)
    order = sorted(count, reverse=descending)
    return {value: rank for rank, value in enumerate(order)}, count
