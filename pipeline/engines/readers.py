"""Value readers: the value printed after a found key, read as the field's type.

A key hit (pipeline.engines.keyvalue) gives the words after a key; a reader takes the
value of one type from them: a string up to its column's end, an id-shaped token, a date,
the amount. Keys that look like a field's but name another value ("SUB TOTAL" for total)
are recognised here too, so both the rules and the candidate ranker see them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal

from pipeline.engines.base import FieldSpec
from pipeline.engines.keyvalue import (
    COLUMN_GAP,
    Found,
    KeyHit,
    find_keys,
    has_digit,
    norm_token,
    one_column,
    page_of,
)
from pipeline.engines.layout_rules import (
    IDENTIFIER,
    NAME_FIELDS,
    after_label,
    name_text,
    name_words,
)
from pipeline.fields.normalize import clean_text, find_amounts, find_dates, parse_decimal
from pipeline.layout import Line
from pipeline.types import Word

Reader = Callable[[KeyHit, int], "Found | None"]


def key_hits(spec: FieldSpec, lines: list[list[Line]]) -> list[tuple[int, KeyHit]]:
    """Every place one of the field's labels is printed, with its page; a label printed
    inside a longer one of the field's ("Tax" in "Sales Tax") is that one's hit only."""
    hits: list[tuple[int, KeyHit]] = []
    for page_number, page_lines in enumerate(lines):
        found = [hit for label in spec.labels for hit in find_keys(page_lines, label)]
        hits.extend((page_number, hit) for hit in found if not _inside_another(hit, found))
    return hits


def _inside_another(hit: KeyHit, hits: list[KeyHit]) -> bool:
    words = {id(word) for word in hit.key_words}
    return any(
        len(other.key_words) > len(hit.key_words) and words < {id(word) for word in other.key_words}
        for other in hits
    )


def keyed_hits(spec: FieldSpec, lines: list[list[Line]]) -> list[tuple[int, KeyHit]]:
    """The field's key hits, less those whose qualifiers name another value."""
    return [(page, hit) for page, hit in key_hits(spec, lines) if not excluded(spec, hit)]


def excluded(spec: FieldSpec, hit: KeyHit) -> bool:
    """Keys that look like the field's but name another value (SUB TOTAL, TOTAL QTY,
    "Summe ohne USt."): judged on the key with the word before it and the two after it,
    where such qualifiers are printed."""
    patterns = EXCLUDED_KEYS.get(spec.name, ())
    around = [*hit.before_words[-1:], *hit.key_words, *hit.value_words[:2]]
    context = " ".join(word.text for word in around)
    return any(re.search(pattern, context, re.IGNORECASE) for pattern in patterns)


def string_after(hit: KeyHit, page: int) -> Found | None:
    words = [w for w in after_label(hit.value_words) if norm_token(w.text) or w.text.strip(":")]
    words = one_column(words)
    if not words:
        return None
    text = " ".join(word.text for word in words).strip(" :")
    return Found(text, page_of(words, page), words, hit.score)


def name_after(hit: KeyHit, page: int) -> Found | None:
    """A party's name after its key, without the address a one-line block runs on into
    ("Bill to: Northwind Traders, 5 Mill Lane, Leeds"). None where the key names the
    party's number or tax id ("N° TVA client FR19787878784") or the key's words run on in
    a sentence ("Facture à régler par virement ..."): a name is written with a capital."""
    found = string_after(hit, page)
    if found is None:
        return None
    words = name_words(found.words)
    if any(IDENTIFIER.match(word.text) for word in words) or not any(
        word.text[:1].isupper() for word in words
    ):
        return None
    return (
        found if words is found.words else Found(name_text(words), found.page, words, found.score)
    )


def value_reader(spec: FieldSpec) -> Reader:
    """How the field's value is read after its key: by its type, a party's name as one."""
    if spec.name in NAME_FIELDS:
        return name_after
    return READERS.get(spec.type, string_after)


def id_after(hit: KeyHit, page: int) -> Found | None:
    """The first of the next few words that is id-shaped. A key word in running prose
    ("Rechnung gemäß Bestellung ...") is followed by none, and gives nothing. A Portuguese
    invoice's number is its document type's code, its series and its number ("FT
    2026/311"), the code a word apart."""
    words = hit.value_words[:ID_SEARCH_WORDS]
    for index, word in enumerate(words):
        text = word.text.strip(" :;,")
        if id_shaped(text):
            if index and SERIES_TYPE.match(words[index - 1].text) and "/" in text:
                chosen = [words[index - 1], word]
                text = f"{words[index - 1].text} {text}"
            else:
                chosen = [word]
            return Found(text, page_of(chosen, page), chosen, hit.score)
    return None


def id_shaped(text: str) -> bool:
    """Holds a digit, is no date, is not a bracketed code such as "(380)"."""
    return has_digit(text) and not find_dates(text) and not text.startswith("(")


ID_SEARCH_WORDS = 3
# The codes of Portuguese invoicing documents that open their number: invoice, invoice-
# receipt, simplified invoice, credit and debit note.
SERIES_TYPE = re.compile(r"^(FT|FR|FS|NC|ND)$")


def first_date(words: Sequence[Word], page: int, score: float) -> Found | None:
    for start in range(len(words)):
        for end in range(start + 1, min(start + 4, len(words)) + 1):
            chunk = words[start:end]
            text = " ".join(word.text for word in chunk)
            dates = find_dates(text)
            if dates:  # spans index the cleaned text (NFKC can lengthen "№" to "No")
                _, (begin, finish) = dates[0]
                found = clean_text(text)[begin:finish]
                return Found(found, page_of(chunk, page), list(chunk), score)
    return None


def last_amount(words: Sequence[Word], page: int, score: float) -> Found | None:
    for index in range(len(words) - 1, -1, -1):
        if _amount_at(words, index):
            return _amount_ending(words, index, page, score)
    return None


def amounts_in(words: Sequence[Word], page: int, score: float) -> list[Found]:
    """Every amount printed in the words, in reading order."""
    found = []
    index = len(words) - 1
    while index >= 0:
        if _amount_at(words, index):
            amount = _amount_ending(words, index, page, score)
            found.append(amount)
            index -= len(amount.words) - 1
        index -= 1
    return found[::-1]


def _amount_at(words: Sequence[Word], index: int) -> bool:
    """Word `index` prints an amount, and no rate: "19 %" and "19%" are a tax's rate, not
    money (a VAT table's "USt. %" column over "19")."""
    return not _rate_at(words, index) and _amount_word(words[index].text)


def _rate_at(words: Sequence[Word], index: int) -> bool:
    """Word `index` is a percentage: "19%", "(20%)", "19 %"."""
    after = words[index + 1].text if index + 1 < len(words) else ""
    return words[index].text.rstrip(").,;:").endswith("%") or after.startswith("%")


def rates_in(words: Sequence[Word]) -> list[Decimal]:
    """Every percentage printed in the words ("19 %", "20,0%", "0%"), as a number."""
    rates = []
    for index, word in enumerate(words):
        number = RATE_NUMBER.search(word.text) if _rate_at(words, index) else None
        value = parse_decimal(number[1]) if number else None
        if value is not None:
            rates.append(value)
    return rates


def _amount_word(text: str) -> bool:
    return bool(find_amounts(text)) and not find_dates(text) and ":" not in text[1:-1]


def _amount_ending(words: Sequence[Word], index: int, page: int, score: float) -> Found:
    """The amount that ends with word `index`: with the thousands printed before it when a
    space groups them ("120 000,00 €", which a text layer splits at its spaces)."""
    start = index
    while start > 0 and _groups_thousands(words[start - 1], words[start]):
        start -= 1
    chunk = list(words[start : index + 1])
    text = " ".join(word.text for word in chunk)
    _, (begin, end) = find_amounts(text)[-1]  # a span of the cleaned text
    return Found(clean_text(text)[begin:end].strip(), page_of(chunk, page), chunk, score)


def _groups_thousands(before: Word, group: Word) -> bool:
    """ "120" and "000,00" are one number: a group of three digits (with decimals after a
    comma, the languages that group by spaces) a space after one to three digits."""
    return (
        bool(THOUSANDS_GROUP.match(group.text))
        and bool(LEADING_GROUP.fullmatch(before.text))
        and group.box.x0 - before.box.x1 < COLUMN_GAP / 2
    )


def amount_of(found: Found) -> float:
    amounts = find_amounts(found.text)
    return float(amounts[-1][0].value) if amounts else float("-inf")


def has_decimals(found: Found) -> bool:
    return bool(re.search(r"[.,]\d{2}$", found.text))


RATE_NUMBER = re.compile(r"(\d{1,3}(?:[.,]\d{1,3})?)\s*%?\)?$")  # "19%", "(20,0 %)"
THOUSANDS_GROUP = re.compile(r"\d{3}(,\d+)?(?!\d)(?![.,]\d)")
LEADING_GROUP = re.compile(r"[-(]?\d{1,3}")
READERS: dict[str, Reader] = {
    "id": id_after,
    "date": lambda hit, page: first_date(hit.value_words, page, hit.score),
    "amount": lambda hit, page: last_amount(hit.value_words, page, hit.score),
    "number": lambda hit, page: last_amount(hit.value_words, page, hit.score),
}
FINAL_AMOUNT_KEY = re.compile(
    r"\b(nett?|grand|rounded)\s*total|total\s*(payable|due)|amount\s*(due|payable)"
    r"|due\s*(payable|for\s*payment)|payable\s*amount",
    re.IGNORECASE,
)
# Words that say an amount is before tax, in the languages of the invoice labels.
_BEFORE_TAX = r"\b(excl\w*|exclusive|without|ohne|hors|h\.?t|sans|sin|senza|sem|netto|neto)\b"
EXCLUDED_KEYS: dict[str, tuple[str, ...]] = {
    "total": (
        r"\bsub\s*-?\s*total|subtotal|zwischensumme|sous-total|subtota",
        r"\b(qty|quantity|items?|savings?|discount|disc|tendered|change|cash)\b",
        _BEFORE_TAX,
        r"total\W*(gst|sst|tax|vat)\b",
        r"\bround\w*\s*adj",
        r"zuschl|abschl|rabatt|remise|descuento|sconto|desconto|korting",  # charges, discounts
    ),
    "tax": (_BEFORE_TAX, r"\b(id|nr|no|number|reg\w*|rate|satz)\b"),
    "invoice_number": (r"summe|betrag|total|amount|montant|importe|importo|bedrag|datum|date",),
}
