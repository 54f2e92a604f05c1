"""Address candidates: every run of up to MAX_LINES consecutive lines at the top of the
first page, for a ranker to choose from.

The address rule (layout_rules._address) reads one run, from the first line with a number
under the seller's name to the postcode. Receipts vary too much for one run to be right:
a mall's name on the line above the street, a shop's name printed above a different legal
name, a registration number on the street's line. Each run carries what tells an address
apart: whether a postcode ends it, whether it starts with a number or right under the
seller's name, how many lines it spans, whether it holds contact details.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from pipeline.engines.keyvalue import Found, has_digit
from pipeline.engines.layout_rules import ADDRESS_STOP, COMPANY_SUFFIX, POSTCODE, REGISTRATION
from pipeline.layout import Line

MAX_LINES = 5
HEADER_SHARE = 0.5
MAX_START = 12  # runs start among the first lines of the page
STREET_START = re.compile(r"^(no\.?|lot|unit|block|blk|jalan|jln|\d)", re.IGNORECASE)


class _Facts(NamedTuple):
    """What one header line holds, read once for every run it is part of."""

    postcode: bool
    suffix: bool  # a legal form
    contact: bool  # contact details or a document's details
    registration: bool


def address_runs(lines: list[list[Line]]) -> Iterator[tuple[Found, dict[str, float]]]:
    """Each run of consecutive header lines, as a value with its features."""
    if not lines:
        return
    header = [line for line in lines[0] if line.box.y0 < HEADER_SHARE]
    facts = [_facts(line.text) for line in header]
    for start in range(min(len(header), MAX_START)):
        for end in range(start + 1, min(start + MAX_LINES, len(header)) + 1):
            run = header[start:end]
            text = " ".join(line.text for line in run)
            words = [word for line in run for word in line.words]
            features = _features(run, facts[start:end], facts[start - 1] if start else None)
            yield (
                Found(text, run[0].page, words, 0.0),
                {"header_order": start / MAX_START, **features},
            )


def _facts(text: str) -> _Facts:
    return _Facts(
        bool(POSTCODE.search(text)),
        bool(COMPANY_SUFFIX.search(text)),
        bool(ADDRESS_STOP.search(text)),
        bool(REGISTRATION.search(text)),
    )


def _features(run: list[Line], facts: list[_Facts], above: _Facts | None) -> dict[str, float]:
    return {
        "run_lines": len(run) / MAX_LINES,
        "postcode_last": float(facts[-1].postcode),
        "postcode_inside": float(any(fact.postcode for fact in facts[:-1])),
        "street_first": float(bool(STREET_START.match(run[0].text.strip()))),
        "under_company": float(above is not None and (above.suffix or above.registration)),
        "company_suffix": float(any(fact.suffix for fact in facts)),
        "contact_words": float(any(fact.contact for fact in facts)),
        "numberless_first": float(not has_digit(run[0].text)),
    }
