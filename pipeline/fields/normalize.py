"""Typed value normalisation: dates to ISO 8601, amounts and numbers to plain decimals.

Receipts and invoices print the same value many ways ("25/12/2018", "25-DEC-18",
"RM 1,234.50", "1.234,50 €"). Normalising both the extracted and the expected value makes
exact-match comparison meaningful, and gives the export a value a program can use while the
raw text is kept beside it. Day-first is the default for numeric dates, as on most of the
world's receipts; an impossible day/month order is swapped automatically, and a document
whose unambiguous dates are written month first ("11/17/2017") has its ambiguous ones read
so too (`day_first_in`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
_SEP = r"\s?(?P<sep>[/\-.])\s?"
_SAME_SEP = r"\s?(?P=sep)\s?"
# A year may run straight into a time when OCR drops the space: "16-03-201812:07:10".
_YEAR_END = r"(?:(?!\d)|(?=\d{1,2}:\d{2}))"
DATE_PATTERNS = [
    # 2018-12-25, 2018/12/25
    re.compile(rf"(?P<y>\d{{4}}){_SEP}(?P<m>\d{{1,2}}){_SAME_SEP}(?P<d>\d{{1,2}})(?!\d)"),
    # 25/12/2018, 25-12-18, 25.12.2018
    re.compile(
        rf"(?<!\d)(?P<d>\d{{1,2}}){_SEP}(?P<m>\d{{1,2}}){_SAME_SEP}(?P<y>\d{{4}}|\d{{2}}){_YEAR_END}"
    ),
    # 25 Dec 2018, 25-DEC-18, 25Dec2018
    re.compile(
        rf"(?<!\d)(?P<d>\d{{1,2}})\s*[/\-. ]?\s*(?P<mon>{_MONTH})\.?\s*[/\-. ,]?\s*"
        rf"(?P<y>\d{{4}}|\d{{2}})(?!\d)",
        re.IGNORECASE,
    ),
    # Dec 25, 2018
    re.compile(
        rf"(?P<mon>{_MONTH})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})(?!\d)",
        re.IGNORECASE,
    ),
]

CURRENCY_SYMBOLS = {
    "rm": "MYR",
    "myr": "MYR",
    "$": "USD",
    "usd": "USD",
    "us$": "USD",
    "€": "EUR",
    "eur": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "¥": "JPY",
    "jpy": "JPY",
    "sgd": "SGD",
    "s$": "SGD",
    "chf": "CHF",
    "₹": "INR",
    "inr": "INR",
    "rp": "IDR",
    "idr": "IDR",
}
_CURRENCY = "|".join(re.escape(s) for s in sorted(CURRENCY_SYMBOLS, key=len, reverse=True))
AMOUNT_PATTERN = re.compile(
    r"(?P<neg>-|\()?\s*(?:(?P<cur>" + _CURRENCY + r")\s*)?(?P<neg2>-)?"
    r"(?<!⁄)(?P<num>\d{1,3}(?:[ ,.'’]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,3})?)"
    r"(?![\d⁄])\s*(?:(?P<cur2>" + _CURRENCY + r")(?!\s*\d))?\)?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Amount:
    value: Decimal
    currency: str | None

    def __str__(self) -> str:
        return format_decimal(self.value)


MEMO_SIZE = 16384  # distinct strings: a few pages' words


def clean_text(text: str) -> str:
    """NFKC (folds fullwidth OCR characters) and collapsed whitespace."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


@lru_cache(maxsize=MEMO_SIZE)
def find_dates(text: str, *, day_first: bool = True) -> tuple[tuple[date, tuple[int, int]], ...]:
    """Every valid date in `text` with its character span, in order of appearance (kept
    for the words of the pages at hand: fields and candidates ask about the same words)."""
    text = clean_text(text)
    found: list[tuple[date, tuple[int, int]]] = []
    taken: list[tuple[int, int]] = []
    for index, pattern in enumerate(DATE_PATTERNS):
        for match in pattern.finditer(text):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            parts = match.groupdict() | {"day_month_order": "yes" if index == 1 else None}
            parts.pop("sep", None)
            parsed = _date_from_match(parts, day_first)
            if parsed is not None:
                found.append((parsed, span))
                taken.append(span)
    return tuple(sorted(found, key=lambda item: item[1]))


def _date_from_match(parts: dict[str, str | None], day_first: bool) -> date | None:
    year = int(parts["y"] or 0)
    if year < 100:
        year += 2000 if year < 70 else 1900
    day = int(parts["d"] or 0)
    if mon := parts.get("mon"):
        month = MONTHS[mon.lower()]
    else:
        month = int(parts["m"] or 0)
        if parts.get("day_month_order") and not day_first:
            day, month = month, day
        if month > 12 >= day:
            day, month = month, day
    try:
        return date(year, month, day) if 1900 <= year <= 2100 else None
    except ValueError:
        return None


def day_first_in(texts: Iterable[str]) -> bool:
    """Whether a document writes its numeric dates day first. It keeps one order, so a date
    only one order can read ("17/11/2017", "11/17/2017") settles the ambiguous ones
    ("11/03/2017"): month first when its dates say only that, else day first."""
    return read_day_first(date_orders(texts))


def read_day_first(orders: frozenset[str]) -> bool:
    """Day first unless the only order a document's dates can be read in is month first."""
    return orders != {"month"}


def date_orders(texts: Iterable[str]) -> frozenset[str]:
    """The orders ("day", "month") that some numeric date in `texts` can only be read in.
    Only dates with a four-digit year or slashes count; "04-50-44" is more likely a phone
    number."""
    orders = set()
    for text in texts:
        for match in DATE_PATTERNS[1].finditer(clean_text(text)):
            if len(match["y"]) < 4 and match["sep"] != "/":
                continue
            first, second = int(match["d"]), int(match["m"])
            if 12 < first <= 31 and 1 <= second <= 12:
                orders.add("day")
            elif 12 < second <= 31 and 1 <= first <= 12:
                orders.add("month")
    return frozenset(orders)


def normalize_date(text: str, *, day_first: bool = True) -> str | None:
    """The first date in `text` as YYYY-MM-DD, or None."""
    dates = find_dates(text, day_first=day_first)
    return dates[0][0].isoformat() if dates else None


@lru_cache(maxsize=MEMO_SIZE)
def find_amounts(text: str) -> tuple[tuple[Amount, tuple[int, int]], ...]:
    """Every number-like amount in `text` with its span; currency when one is printed (kept
    like find_dates')."""
    text = clean_text(text)
    amounts = []
    for match in AMOUNT_PATTERN.finditer(text):
        value = parse_decimal(match["num"])
        if value is None:
            continue
        if match["neg"] or match["neg2"]:
            value = -value
        symbol = (match["cur"] or match["cur2"] or "").lower()
        amounts.append((Amount(value, CURRENCY_SYMBOLS.get(symbol)), match.span()))
    return tuple(amounts)


def parse_decimal(number: str) -> Decimal | None:
    """'1,234.50', '1.234,50', '1 234,5', "1'234.50" -> Decimal. The last separator
    followed by 1-2 digits is the decimal point and every other separator groups thousands;
    a lone ',' before 3 digits groups thousands ("1,234") while a lone '.' before 3 digits
    is a decimal point ("9.000" unit prices on receipts)."""
    number = number.replace(" ", "").replace("'", "").replace("’", "")
    match = re.search(r"[.,](\d{1,2})$", number) or re.fullmatch(r"\d+\.(\d{3})", number)
    integer, fraction = (number[: match.start(1) - 1], match.group(1)) if match else (number, "")
    integer = re.sub(r"[.,]", "", integer)
    try:
        return Decimal(f"{integer}.{fraction}" if fraction else integer)
    except InvalidOperation:
        return None


def format_decimal(value: Decimal) -> str:
    """Two decimals for money-like values, more only when the value needs them."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return f"{value:.2f}"
    return format(value.normalize(), "f")


def normalize_amount(text: str) -> str | None:
    """The amount in `text` (the last one, where totals sit) as a plain decimal string."""
    amounts = find_amounts(text)
    return str(amounts[-1][0]) if amounts else None


def normalize_number(text: str) -> str | None:
    amounts = find_amounts(text)
    if not amounts:
        return None
    return format(amounts[-1][0].value.normalize(), "f")


def normalize_id(text: str) -> str | None:
    """Identifiers keep their characters; only surrounding punctuation and spaces go."""
    cleaned = clean_text(text).strip(" :#.,;")
    return cleaned or None


def normalize_string(text: str) -> str | None:
    cleaned = clean_text(text).strip(" :;,")
    return cleaned or None


NORMALIZERS = {
    "string": normalize_string,
    "date": normalize_date,
    "amount": normalize_amount,
    "number": normalize_number,
    "id": normalize_id,
}


def normalize(
    value_type: str, text: str, *, day_first: bool = True, unsigned: bool = False
) -> str | None:
    """Normalise `text` as `value_type`; None when it holds no such value. `day_first`:
    the order of the document's numeric dates (`day_first_in`); `unsigned`: an amount's
    size, without its sign."""
    if value_type == "date":
        return normalize_date(text, day_first=day_first)
    if unsigned and value_type == "amount":
        value = normalize_amount(text)
        return value.removeprefix("-") if value else None
    try:
        return NORMALIZERS[value_type](text)
    except KeyError as error:
        raise ValueError(f"unknown field type {value_type!r}; use {sorted(NORMALIZERS)}") from error


def same_value(
    value_type: str,
    predicted: str,
    expected: str,
    *,
    day_first: bool = True,
    unsigned: bool = False,
) -> bool:
    """Whether a value read off a page is the expected one: equal after normalisation (ISO
    dates, decimal amounts) and, for strings and ids, case-, accent-, whitespace- and
    punctuation-insensitively ("75, Jalan SS 22/19" is "75. JALAN SS 22-19"; "INV 0042" is
    "inv-0042"): the marks between letters are what OCR and people spell least alike."""
    if not predicted:
        return False
    if value_type in ("string", "id"):
        return _letters_and_digits(predicted) == _letters_and_digits(expected)
    read = normalize(value_type, predicted, day_first=day_first, unsigned=unsigned)
    return read == normalize(value_type, expected, day_first=day_first, unsigned=unsigned)


def _letters_and_digits(text: str) -> str:
    return "".join(char for char in _unaccented(text) if char.isalnum())


def comparable(text: str) -> str:
    """Casefolded, accents and spacing around punctuation removed, edge punctuation gone."""
    plain = re.sub(r"\s*([,.;:/&()\-])\s*", r"\1", " ".join(_unaccented(text).split()))
    return plain.strip(" .,;:")


def _unaccented(text: str) -> str:
    """Casefolded, with accents taken off their letters ("Müller" -> "muller")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))
