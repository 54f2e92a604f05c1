"""Taxes by their arithmetic: the amount a printed rate makes of another amount.

A tax is the one amount on an invoice that a rate printed beside it explains: "TVA 20,0%
81,90 € 16,38 €", "VAT 20% 20.00" under a 100.00 subtotal, a VAT table's "858,75 19 163,16"
under "USt. %". Its label alone does not tell it: the first amount after "TVA" on a VAT
table's row is the rate's base, and at 0% (exports, intra-community supplies) the tax of
0,00 is told from its base by the rate alone. Read once per page, for the tax's rule and
for every amount field's candidates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations

from pipeline.engines.keyvalue import Found
from pipeline.engines.readers import amounts_in, has_decimals, rates_in
from pipeline.fields.normalize import normalize
from pipeline.layout import Line, per_page
from pipeline.types import Word

MAX_RATE = 30  # a tax rate printed without its "%" is a whole number up to this
MAX_SUMMED = 10  # the rate taxes whose sums are read


@dataclass(frozen=True)
class RateTaxes:
    """The document's amounts that a printed rate makes of another amount, by the id of
    their first word, and the sums of two or more of them (the taxes of a table's rates
    together, "Total taxes 46,25"), in cents."""

    shares: frozenset[int]
    totals: frozenset[int]

    def is_share(self, found: Found) -> bool:
        return id(found.words[0]) in self.shares

    def is_total(self, found: Found) -> bool:
        """A credit note may print its total taxes without the sign of its rows."""
        value = cents(found.text)
        return value is not None and (value in self.totals or -value in self.totals)


def rate_taxes(lines: list[list[Line]]) -> RateTaxes:
    """The rate taxes of a document given as lines per page."""
    rows = [row for page_lines in lines for row in line_amounts(page_lines)]
    printed = {value for _, amounts in rows for found in amounts if (value := cents(found.text))}
    shares: dict[int, int] = {}
    for line, amounts in rows:
        rates = rates_in(line.words)
        for index, found in enumerate(amounts):
            value = cents(found.text)
            if value is None or not has_decimals(found):
                continue  # a tax is money, printed with its cents; "5 Unit(s)" is a count
            if _share(value, rates, printed) or _table_share(line, amounts, index, value):
                shares[id(found.words[0])] = value
    return RateTaxes(frozenset(shares), _sums(sorted(set(shares.values()) - {0})))


def _sums(values: list[int]) -> frozenset[int]:
    """Every sum of two or more of the values; of the first few, since a page whose
    discounts look like taxes too could print many (the sums grow as two to their number)."""
    values = values[:MAX_SUMMED]
    return frozenset(
        sum(chosen) for size in range(2, len(values) + 1) for chosen in combinations(values, size)
    )


def line_amounts(page_lines: Sequence[Line]) -> list[tuple[Line, list[Found]]]:
    """Each line of the page with the amounts printed on it, read once per page."""
    return per_page(page_lines, "amounts", _amounts_of)


def _amounts_of(page_lines: Sequence[Line]) -> list[tuple[Line, list[Found]]]:
    return [(line, amounts_in(line.words, line.page, 0.0)) for line in page_lines]


def cents(text: str) -> int | None:
    normalized = normalize("amount", text)
    return int((Decimal(normalized) * 100).to_integral_value()) if normalized else None


def _table_share(line: Line, amounts: list[Found], index: int, value: int) -> bool:
    """A VAT table's row: base, a whole-number rate, then the tax ("858,75 19 163,16");
    printed in that order, so that an item's quantity is no rate ("10 Liter(s) 19,80
    198,00", where 19,80 is a tenth of 198,00)."""
    place = {id(word): position for position, word in enumerate(line.words)}
    start = place[id(amounts[index].words[0])]
    for position, word in enumerate(line.words[:start]):
        rate = _bare_rate(word)
        bases = {
            base
            for found in amounts[:index]
            if place[id(found.words[-1])] < position and (base := cents(found.text))
        }
        if rate is not None and _share(value, [rate], bases):
            return True
    return False


def _bare_rate(word: Word) -> Decimal | None:
    """A whole number a table prints in its rate's column ("19" under "USt. %")."""
    return Decimal(word.text) if word.text.isdigit() and 0 < int(word.text) <= MAX_RATE else None


def _share(value: int, rates: Sequence[Decimal], bases: set[int]) -> bool:
    """`value` (cents) is one of the rates (percent) of one of the larger bases (cents), to
    the cent that rounding takes."""
    return any(
        abs(base * rate / 100 - value) <= 1
        for rate in rates
        for base in bases
        if abs(base) > abs(value)
    )
