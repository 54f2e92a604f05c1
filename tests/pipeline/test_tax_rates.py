"""Taxes told by their arithmetic: an amount a printed rate makes of another amount."""

from __future__ import annotations

import pytest

from pipeline.engines.base import FieldSpec
from pipeline.engines.extractive import find_field
from pipeline.engines.tax_rates import line_amounts, rate_taxes
from pipeline.layout import group_lines
from tests.pipeline.test_ranker import _page, candidates_of

TAX = FieldSpec("tax", "amount", labels=("tva", "vat", "ust"))


def _taxes(rows: list[tuple[float, float, str]]) -> tuple[set[str], set[str]]:
    """The amounts printed on the page that are rate shares, and those that are their sums."""
    lines = [group_lines(_page(rows).words)]
    taxes = rate_taxes(lines)
    amounts = [found for _, printed in line_amounts(lines[0]) for found in printed]
    return (
        {found.text for found in amounts if taxes.is_share(found)},
        {found.text for found in amounts if taxes.is_total(found)},
    )


@pytest.mark.parametrize(
    ("rows", "shares"),
    [
        ([(0.1, 0.5, "TVA 20,0% 81,90 € 16,38 €")], {"16,38"}),
        (  # a VAT table's row, its rate in a column under "USt. %"
            [
                (0.1, 0.5, "Umsatzsteuer (S)"),
                (0.4, 0.5, "858,75"),
                (0.55, 0.5, "19"),
                (0.7, 0.5, "163,16"),
            ],
            {"163,16"},
        ),
        ([(0.1, 0.5, "TVA 0% export 530,75 € 0,00 €")], {"0,00"}),  # a 0% rate's tax
        ([(0.1, 0.5, "Subtotal 100.00"), (0.1, 0.55, "VAT (20%) 20.00")], {"20.00"}),
        ([(0.1, 0.5, "Huile d'olive 10 Liter(s) 19,80 € 198,00 €")], set()),  # a quantity
        ([(0.1, 0.5, "Remise 10% 5 Unit(s) 50,00")], set()),  # 5 is a tenth, but a count
        ([(0.1, 0.5, "Total 530,75 € 0,00 €")], set()),  # no rate: a zero is no tax
    ],
)
def test_an_amount_a_printed_rate_makes_of_another_is_a_tax(
    rows: list[tuple[float, float, str]], shares: set[str]
) -> None:
    assert _taxes(rows)[0] == shares


def test_the_taxes_of_several_rates_together_are_their_sum_in_either_sign() -> None:
    """ "Total taxes" sums a table's rows; a credit note's rows print negative and their
    sum may print without its sign."""
    rows = [(0.1, 0.5, "TVA 20,0% 81,90 16,38"), (0.1, 0.55, "TVA 5,5% 543,00 29,87")]
    assert _taxes([*rows, (0.1, 0.6, "Total taxes 46,25")])[1] == {"46,25"}
    credit = [(0.1, 0.5, "USt -4,85"), (0.3, 0.5, "19"), (0.5, 0.5, "-0,92")]
    credit += [(0.1, 0.55, "USt -2,82"), (0.3, 0.55, "7"), (0.5, 0.55, "-0,20")]
    assert _taxes([*credit, (0.1, 0.6, "Steuerbetrag 1,12")]) == ({"-0,92", "-0,20"}, {"1,12"})
    assert _taxes(rows[:1] + [(0.1, 0.6, "Total 16,38")])[1] == set()  # one rate: no sum


@pytest.mark.parametrize(
    ("rows", "tax"),
    [
        # the largest amount after "TVA" is the 0% rate's base
        ([(0.1, 0.5, "TVA 0% export 530,75 € 0,00 €"), (0.1, 0.6, "Total 530,75 €")], "0,00"),
        (
            [
                (0.1, 0.5, "TVA 20,0% 81,90 € 16,38 € Total taxes 46,25 €"),
                (0.1, 0.55, "TVA 5,5% 543,00 € 29,87 €"),
            ],
            "46,25",
        ),
        ([(0.1, 0.5, "VAT 20.00"), (0.1, 0.55, "VAT 15.00")], "20.00"),  # no rate: the largest
    ],
)
def test_the_tax_rule_reads_the_tax_its_rate_explains(
    rows: list[tuple[float, float, str]], tax: str
) -> None:
    found = find_field(TAX, [group_lines(_page(rows).words)])
    assert found is not None and found.text == tax


def test_every_amount_field_s_candidates_know_the_rate_taxes() -> None:
    rows = [(0.1, 0.5, "TVA 20,0% 81,90 16,38"), (0.1, 0.55, "TVA 5,5% 543,00 29,87")]
    page = _page([*rows, (0.1, 0.6, "Total taxes 46,25"), (0.1, 0.65, "Total TTC 671,15")])
    for spec in (TAX, FieldSpec("total", "amount", labels=("total ttc",))):
        found = {c.found.text: c.features for c in candidates_of(spec, page)}
        shares = {text for text, features in found.items() if features["rate_share"]}
        totals = {text for text, features in found.items() if features["rate_total"]}
        assert (shares, totals) == ({"16,38", "29,87"}, {"46,25"})


def test_a_user_s_tax_field_of_another_type_is_read_as_its_type() -> None:
    """The rule by rates is the tax amount's: a schema's string field named "tax" reads
    the words after its key."""
    spec = FieldSpec("tax", "string", labels=("tax",))
    found = find_field(spec, [group_lines(_page([(0.1, 0.5, "Tax: exempt")]).words)])
    assert found is not None and found.text == "exempt"
