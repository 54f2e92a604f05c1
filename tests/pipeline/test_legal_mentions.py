"""A French seller's name is its dénomination: the legal form its mentions state apart."""

from __future__ import annotations

import pytest

from pipeline.engines.extractive import find_field
from pipeline.fields.schemas import load_schema
from pipeline.layout import group_lines
from tests.pipeline.test_ranker import _page, candidates_of

VENDOR = load_schema("invoice").field("vendor").spec()
MENTIONS = (
    0.1,
    0.9,
    "TVA : FR11999999998 - SIRET : 99999999800010 - SARL au capital de 120 000,00 €",
)


@pytest.mark.parametrize(
    ("letterhead", "mentions", "name"),
    [
        (
            "Au bon moulin SARL - 1242 chemin de l'olive - 84340 Malaucène",
            [MENTIONS],
            "Au bon moulin",
        ),
        ("SARL Au bon moulin - 1242 chemin de l'olive", [MENTIONS], "Au bon moulin"),
        # no mention states the form apart: it stays the name's
        ("Au bon moulin SARL - 1242 chemin de l'olive - 84340 Malaucène", [], "Au bon moulin SARL"),
        # another form than the one stated
        ("Atelier Lumière SAS - 12 rue des Lilas", [MENTIONS], "Atelier Lumière SAS"),
        ("Lieferant GmbH - Lieferantenstraße 20 - 80333 München", [MENTIONS], "Lieferant GmbH"),
    ],
)
def test_a_seller_s_name_is_read_without_the_legal_form_its_mentions_state(
    letterhead: str, mentions: list[tuple[float, float, str]], name: str
) -> None:
    page = _page([(0.1, 0.05, letterhead), (0.1, 0.3, "Facture FA-2017-0009"), *mentions])
    found = find_field(VENDOR, [group_lines(page.words)])
    assert found is not None and found.text == name
    printed = letterhead.split(" - ")[0]
    texts = {c.found.text for c in candidates_of(VENDOR, page)}
    assert name in texts and (printed in texts) == (printed == name)


def test_a_name_that_is_nothing_but_the_form_keeps_it() -> None:
    page = _page([(0.1, 0.05, "SARL"), (0.1, 0.3, "Facture FA-2017-0009"), MENTIONS])
    assert "SARL" in {c.found.text for c in candidates_of(VENDOR, page)}
