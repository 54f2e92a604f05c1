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

from pipeline.engines.keyvalue import Found, has_digit
from pipeline.engines.layout_rules import ADDRESS_STOP, COMPANY_SUFFIX, POSTCODE, REGISTRATION
from pipeline.layout import Line

MAX_LINES = 5
HEADER_SHARE = 0.5
MAX_START = 12  # runs start among the first lines of the page
STREET_START = re.compile(r"^(no\.?|lot|unit|block|blk|jalan|jln|\d)", re.IGNORECASE)


def address_runs(lines: list[list[Line]]) -> Iterator[tuple[Found, dict[str, float]]]:
    """Each run of consecutive header lines, as a value with its features."""
    if not lines:
        return
    header = [line for line in lines[0] if line.box.y0 < HEADER_SHARE]
    for start in range(min(len(header), MAX_START)):
        for end in range(start + 1, min(start + MAX_LINES, len(header)) + 1):
            run = header[start:end]
            text = " ".join(line.text for line in run)
            words = [word for line in run for word in line.words]
            yield Found(text, run[0].page, words, 0.0), _features(header, start, run)


def _features(header: list[Line], start: int, run: list[Line]) -> dict[str, float]:
    above = header[start - 1].text if start else ""
    with_postcode = [bool(POSTCODE.search(line.text)) for line in run]
    return {
        "header_order": start / MAX_START,
        "run_lines": len(run) / MAX_LINES,
        "postcode_last": float(with_postcode[-1]),
        "postcode_inside": float(any(with_postcode[:-1])),
        "street_first": float(bool(STREET_START.match(run[0].text.strip()))),
        "under_company": float(bool(COMPANY_SUFFIX.search(above) or REGISTRATION.search(above))),
        "company_suffix": float(any(COMPANY_SUFFIX.search(line.text) for line in run)),
        "contact_words": float(any(ADDRESS_STOP.search(line.text) for line in run)),
        "numberless_first": float(not has_digit(run[0].text)),
    }
