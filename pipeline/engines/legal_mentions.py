"""A French company's name apart from the legal form its legal mentions state.

French invoices must print the company's name (its "dénomination sociale") "preceded or
followed immediately by its legal form and its share capital": the letterhead reads "Au bon
moulin SARL" and the mentions "SARL au capital de 120 000,00 €". The name is the
dénomination; the form is a mention of its own, which e-invoices keep in a field of its
own. So where a page states a form with its capital, a seller's name that begins or ends
with that form is read without it. German, British and other names keep theirs: there the
form is part of the registered name ("Lieferant GmbH", "Kestrel Design Ltd").
"""

from __future__ import annotations

import dataclasses
import re

from pipeline.engines.keyvalue import Found
from pipeline.layout import Line

CAPITAL_MENTION = re.compile(
    r"\b(SARL|SAS|SASU|SA|EURL|SNC|SCS|SCA|SCI|SELARL|SCOP)\s+au\s+capital\b", re.IGNORECASE
)


def stated_forms(lines: list[list[Line]]) -> frozenset[str]:
    """The legal forms the document states with a share capital, upper-cased."""
    return frozenset(
        match[1].upper()
        for page_lines in lines
        for line in page_lines
        for match in CAPITAL_MENTION.finditer(line.text)
    )


def without_stated_form(found: Found, forms: frozenset[str]) -> Found:
    """`found` without a first or last word that is one of the stated forms (and is not
    the whole name)."""
    words = list(found.words)
    if len(words) > 1 and _bare(words[-1].text) in forms:
        words = words[:-1]
    elif len(words) > 1 and _bare(words[0].text) in forms:
        words = words[1:]
    if len(words) == len(found.words):
        return found
    text = " ".join(word.text for word in words).strip(" ,-")
    return dataclasses.replace(found, text=text, words=words)


def _bare(word: str) -> str:
    return word.strip(" ,.-").upper()
