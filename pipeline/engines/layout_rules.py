"""Layout rules for the fields no key announces on receipts and invoices.

The seller's name and address sit at the top of the page with no label, the currency is
read off the amounts, and line items are the rows of the table under its header. Each rule
takes the document as lines per page and returns a `Found` value or None.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache

from pipeline.engines.base import FieldSpec
from pipeline.engines.keyvalue import (
    Found,
    column_cells,
    find_keys,
    has_digit,
    norm_token,
    one_column,
    page_of,
)
from pipeline.engines.legal_mentions import stated_forms, without_stated_form
from pipeline.fields.normalize import (
    CURRENCY_SYMBOLS,
    find_amounts,
    find_dates,
    normalize_amount,
    normalize_number,
)
from pipeline.fields.schemas import builtin_fields, load_schema
from pipeline.layout import Line
from pipeline.types import Word

COMPANY_SUFFIX = re.compile(
    r"\b(sdn\.?\s*bhd|bhd|berhad|enterprise|trading|ltd|limited|llc|inc|gmbh|plc|"
    r"s\.?a\.?r\.?l|company|corporation|corp|restaurant|store|mart|holdings?)\b"
    r"|\bco\.(?!\w|\s*(reg|no)\b)"  # "Supply Co.", not "Co. Reg. No."
    # The legal forms of the invoice languages: German, French, Dutch, Spanish, Italian,
    # Portuguese (case-sensitive where the letters are also common words).
    r"|\b(?-i:AG|KG|KGaA|OHG|UG|GbR|eG|PartG|SE|SAS|SASU|EURL|SNC|SA|SL|SLU|NV|BV|VOF|SRL|SPA|LDA|"
    r"LLP)\b|\bmbH\b|\be\.\s?[KV]\b|\ba\.\s?G\b|\bS\.[AL]\.|\bS\.L\.U\b|\bS\.p\.A\b"
    r"|\bS\.r\.l\b|\bS\.n\.c\b|\bB\.V\b|\bN\.V\b|\bLtda\b|\bLda\b|\bunipessoal\b",
    re.IGNORECASE,
)
# A copyright notice names who wrote the form ("(c) AWV e.V. 2020"), not the seller.
COPYRIGHT = re.compile(r"©|\(c\)|\bcopyright\b", re.IGNORECASE)
ADDRESS_STOP = re.compile(
    r"\b(tel|phone|fax|gst|gstid|reg|email|e-mail|www|http|receipt|date|doc|document|"
    r"no\.?\s*:|cashier|table|order|qty|item)\b|invoice|\+\d|@|\d+\.\d{2}\b"
    r"|rechnung|facture|factuur|factura|fattura|fatura"  # the document's title
    r"|\burn:|://|"  # an identifier (a profile's URN, a web address), never a name
    + COPYRIGHT.pattern,
    re.IGNORECASE,
)
POSTCODE = re.compile(r"\b\d{5}\b")
REGISTRATION = re.compile(
    r"^\(?\d[\d\s-]{4,}-?\s?[A-Z]?\)?$|company\s*reg|co\.?\s*(reg|no)", re.IGNORECASE
)
NAME_LABEL = re.compile(  # a form's label for a party's name, in the invoice languages
    r"^((company|business|trading|legal)?\s*name|firma|firmenname|raison sociale|"
    r"d[ée]nomination|nom|naam|bedrijfsnaam|nombre|raz[oó]n social|nome|ragione sociale|"
    r"raz[aã]o social)$",
    re.IGNORECASE,
)
SALUTATION = re.compile(
    r"^(herrn?|frau|firma|mr|mrs|ms|miss|dr|m|mme|mlle|monsieur|madame|dhr|mevr|"
    r"sr|sra|sig|sig\.ra|sr\.a)\.?$",
    re.IGNORECASE,
)
# A customer's number, a tax id or a stamp's code, which no name holds: up to three letters
# (a country's code), then five digits or more.
IDENTIFIER = re.compile(r"^[:;,.#]*[A-Z]{0,3}\d{5,}[:;,.]*$")
# A company's number as one word, "000965911-P" (OCR may read its hyphen as "·"): six
# digits or more, where a street's number or a postcode has fewer.
REGISTRATION_WORD = re.compile(r"^\(?\d{6,}\s?[-·.]?\s?[A-Z]?\)?$", re.IGNORECASE)
# A building an address opens with, before its street's number ("PARADIGM MALL" over "LOT
# NO.: 4F-27, 4TH FLOOR"; Malay "Wisma", "Menara", "Kompleks", "Bangunan").
BUILDING = re.compile(
    r"\b(mall|plaza|complex|kompleks|menara|wisma|bangunan|building|tower|pusat|arcade|"
    r"galleria)\b",
    re.IGNORECASE,
)
REGISTRATION_IN_TEXT = re.compile(r"\(\s*\d[\d\s-]{4,}-?\s?[A-Z]?\s*\)")
SEPARATOR = frozenset("-|·•–—")  # between a letterhead's name, street and town
HEADER_SHARE = 0.4
NAME_FIELDS = frozenset({"company", "vendor", "customer"})
SELLER_FIELDS = frozenset({"company", "vendor"})
ALIGNED = 0.01  # share of the page width within which two lines start together
WRAP_GAP = 0.5  # a wrapped name's lines lie closer than this share of their height
BLOCK_LINES = 4  # a label heads the lines this close under it
SAME_SIZE = 0.2  # two lines whose heights differ by less than this share are one print size


def _company(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """The seller: in the block a seller's label heads ("Verkäufer:") where the page has
    one, else at the top of the page, outside the block a buyer's label heads ("Factuur
    aan:"); there the first line carrying a company suffix, else the first wordy line."""
    labels = _plain_labels(spec)
    found = labelled_party(spec, lines) or _party_name(
        lines, _company_line(_header_outside_buyer(lines), labels), labels
    )
    return found and without_stated_form(found, stated_forms(lines))


def _header_outside_buyer(lines: list[list[Line]]) -> list[Line]:
    """The header lines that do not start in the block a buyer's label heads."""
    buyers = {id(word) for line in _labelled_block(lines, _buyer_labels()) for word in line.words}
    return [line for line in _header_lines(lines) if id(line.words[0]) not in buyers]


@cache
def _buyer_labels() -> frozenset[str]:
    return _plain_labels(invoice_field("customer"))


def seller(lines: list[list[Line]]) -> Found | None:
    """The seller's name by its rule: what the buyer's rules must not take for the buyer."""
    return _company(invoice_field("vendor"), lines)


@cache
def invoice_field(name: str) -> FieldSpec:
    fields = {definition.name: definition for definition in load_schema("invoice").fields}
    return fields[name].spec()


def labelled_party(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """A party's name in the block one of its labels heads, alone on its line or in its
    column ("Käufer/Leistungsempfänger:" over the buyer's number, ids and "Name: ..."),
    read as the seller's is; None when the page has no such block."""
    labels = _plain_labels(spec)
    return _party_name(lines, _company_line(_labelled_block(lines, labels), labels), labels)


def _plain_labels(spec: FieldSpec) -> frozenset[str]:
    return frozenset(plain(label) for label in spec.labels)


def _party_name(
    lines: list[list[Line]], found: tuple[Line, float] | None, labels: frozenset[str]
) -> Found | None:
    """The name on the line found, without its form label, title cells or the address it
    runs on into, and with the line it wraps from or onto."""
    if found is None:
        return None
    line, score = found
    name = name_words(_without_details(after_label(line.words)))
    index = line_index(lines[0], line.words[0])
    words = _with_salutation(lines[0], index, _wrapped_name(lines[0], index, name, labels))
    return Found(name_text(words), line.page, words, score)


def _with_salutation(page_lines: list[Line], index: int, name: list[Word]) -> list[Word]:
    """A person's name, read from line `index`, with the salutation set on the line above
    it ("Herrn" over "Max Mustermann", as an invoice and its e-invoice name the buyer), or
    the name under a salutation found alone."""
    if salutation_only(name) and index + 1 < len(page_lines):
        return [*name, *after_label(page_lines[index + 1].words)]
    above = page_lines[index - 1].words if index else []
    return [*above, *name] if salutation_only(above) else name


def salutation_only(words: list[Word]) -> bool:
    return len(words) == 1 and bool(SALUTATION.match(words[0].text))


def _without_details(words: list[Word]) -> list[Word]:
    """The line without the column cells that hold a title or contact details: "Kestrel
    Design Ltd" and, across the page on its line, "INVOICE". Cells are kept otherwise: OCR
    spaces a shop's name on a receipt as widely as columns ("T HREE   STOOGES")."""
    cells = column_cells(words)
    kept = [cell for cell in cells if not ADDRESS_STOP.search(" ".join(w.text for w in cell))]
    return [word for cell in kept or cells for word in cell]


def name_words(words: list[Word]) -> list[Word]:
    """A name without the address its line runs on into: "Northwind Traders, 5 Mill Lane,
    Leeds" ends at the first comma after which a number is printed ("Smith, Jones & Co"
    is one name), a letterhead's "Au bon moulin SARL - 1242 chemin ..." at its separator."""
    for index, word in enumerate(words[:-1]):
        if any(has_digit(after.text) for after in words[index + 1 :]):
            if word.text.endswith(","):
                return words[: index + 1]
            if index and word.text in SEPARATOR:
                return words[:index]
    return words


def name_text(words: list[Word]) -> str:
    """A name's words as its text, without a registration number or an identifier printed
    in it ("SDN A06103 BHD", a stamp's code across the name) and the comma it was cut at."""
    kept = [word.text for word in words if not IDENTIFIER.match(word.text)]
    text = REGISTRATION_IN_TEXT.sub(" ", " ".join(kept))
    return " ".join(text.split()).rstrip(",")


def _labelled_block(lines: list[list[Line]], labels: frozenset[str]) -> list[Line]:
    """The lines under the first cell of the first page that is nothing but one of the
    field's labels ("Verkäufer", "Seller:", or "BILL TO" beside other column heads), cut
    to its column: a party's block, whose name may follow its number and ids ("Nummer:
    549910") and need not be at the top of the page."""
    page_lines = lines[0] if lines else []
    for index, line in enumerate(page_lines):
        column = _label_column(line, labels)
        if column is not None:
            left, label_end, right = column
            below = page_lines[index + 1 : index + 1 + BLOCK_LINES]
            cut = [[w for w in under.words if left < w.box.x0 < right] for under in below]
            return [Line(words) for words in cut if words and words[0].box.x0 < label_end]
    return []


def _label_column(line: Line, labels: frozenset[str]) -> tuple[float, float, float] | None:
    """Where the line's cell that is nothing but one of `labels` starts and ends, and
    where the cell after it starts (1.0: none does)."""
    cells = column_cells(line.words)
    for number, cell in enumerate(cells):
        if _is_label(cell, labels):
            right = cells[number + 1][0].box.x0 if number + 1 < len(cells) else 1.0
            return cell[0].box.x0 - ALIGNED, cell[-1].box.x1, right
    return None


def _is_label(words: list[Word], labels: frozenset[str]) -> bool:
    """The words are nothing but one of `labels`, or labels joined by slashes ("Käufer /
    Leistungsempfänger:", the buyer as the recipient of a service too)."""
    parts = plain(" ".join(word.text for word in words)).rstrip(" :").split("/")
    return any(part.strip() in labels for part in parts) and all(part.strip() for part in parts)


def line_index(page_lines: list[Line], word: Word) -> int:
    """Where the page's line that holds `word` is."""
    return next(i for i, line in enumerate(page_lines) if word in line.words)


def _wrapped_name(
    page_lines: list[Line], index: int, name: list[Word], labels: frozenset[str]
) -> list[Word]:
    """The name, read from line `index`, with the line it was wrapped from or onto, when
    the two lines read as one name ending in its legal form: "MVM Musterhafter" over
    "Versicherungsverein Musterstadt a.G.", whichever of the two the rules found. The other
    line must start where the name does, in the same print size, right against it, alone on
    its line, and be a name's part: no digits, no label or contact detail, no legal form of
    its own above the one that ends the name."""
    if _ends_in_legal_form(name):
        above = page_lines[index - 1] if index else None
        if above and _name_part(above, labels, last=False) and _wrapped(above.words, name):
            return [*above.words, *name]
    elif index + 1 < len(page_lines):
        below = page_lines[index + 1]
        if _name_part(below, labels, last=True) and _wrapped(name, below.words):
            return [*name, *below.words]
    return name


def _ends_in_legal_form(words: list[Word]) -> bool:
    return bool(words) and bool(COMPANY_SUFFIX.search(words[-1].text))


def _name_part(line: Line, labels: frozenset[str], *, last: bool) -> bool:
    """A line that can be the first (`last` False) or the last part of a wrapped name."""
    form_fits = _ends_in_legal_form(line.words) if last else not COMPANY_SUFFIX.search(line.text)
    return (
        form_fits
        and not has_digit(line.text)
        and not _detail_or_label(line, labels)
        and one_column(line.words) == line.words
    )


def _wrapped(upper: list[Word], lower: list[Word]) -> bool:
    """Two lines set as one paragraph: the same start, the same height, no gap between."""
    top, bottom = upper[0].box, lower[0].box
    height = bottom.y1 - bottom.y0
    return (
        abs(top.x0 - bottom.x0) < ALIGNED
        and abs(bottom.y0 - top.y1) < height * WRAP_GAP
        and abs((top.y1 - top.y0) - height) < height * SAME_SIZE
    )


def after_label(words: list[Word]) -> list[Word]:
    """A form's line without its leading label: "Name: Lieferant GmbH" -> "Lieferant GmbH"."""
    return words[len(leading_label(words)) :]


def leading_label(words: list[Word]) -> list[Word]:
    """The label a form's line starts with ("Name:", "Währung der Steuer :"), up to four
    words; none when nothing follows it."""
    for index, word in enumerate(words[:4]):
        if word.text.endswith(":") and index + 1 < len(words):
            return words[: index + 1]
    return []


def labels_a_name(label: list[Word]) -> bool:
    """A form's label for a party's name ("Name:", "Firma:", "Raison sociale :")."""
    return bool(NAME_LABEL.match(" ".join(word.text for word in label).rstrip(" :")))


def is_builtin_label(words: Sequence[Word]) -> bool:
    """Whether the words spell nothing but a label of a built-in field ("Total HT", or
    "TotalTTC" as OCR may join it), in any of the languages the schemas list."""
    return _compact(word.text for word in words) in _builtin_labels()


@cache
def _builtin_labels() -> frozenset[str]:
    return frozenset(
        _compact(label.split()) for definition in builtin_fields() for label in definition.labels
    )


def _compact(texts: Iterable[str]) -> str:
    return "".join(norm_token(text) for text in texts)


def labels_other_than_name(label: list[Word]) -> bool:
    """A label that names some other detail ("Währung:", "Nummer:"): the value after it is
    not a party's name."""
    return bool(label) and not labels_a_name(label)


def _company_line(
    header: list[Line], labels: frozenset[str] = frozenset()
) -> tuple[Line, float] | None:
    """The first header line with a company suffix (a copyright notice's "(c) AWV e.V." is
    none); else the first wordy line that is not a document title, a contact detail or a
    label ("TAX INVOICE", "TEL: ...", "Verkäufer"); the name in full where a line under
    it repeats it with more (a brand's logo over "DOMINO'S PIZZA TAMAN UNIVERSITI"). A
    legal name printed under the shop's address ("Owned By : SANYU SUPPLY SDN BHD") is
    its owner's: the shop's name over the address is the seller."""
    postcode = next((i for i, line in enumerate(header) if POSTCODE.search(line.text)), None)
    for index, line in enumerate(header):
        if COMPANY_SUFFIX.search(line.text) and not COPYRIGHT.search(line.text):
            above = header[:postcode] if postcode is not None and index > postcode else []
            shop = _first_wordy([other for other in above if not has_digit(other.text)], labels)
            return shop or (line, 0.8)
    return _first_wordy(header, labels)


def _first_wordy(header: list[Line], labels: frozenset[str]) -> tuple[Line, float] | None:
    """The first line of four letters or more that is no title, contact detail or label."""
    for index, line in enumerate(header):
        wordy = sum(char.isalpha() for char in line.text) >= 4
        if wordy and not _detail_or_label(line, labels):
            return _in_full(line, header[index + 1 : index + 1 + BLOCK_LINES]), 0.4
    return None


def _in_full(line: Line, below: list[Line]) -> Line:
    """The first of the lines `below` that starts with `line`'s words and goes on in words
    only (a branch's name after its brand's), else `line`."""
    start = plain(line.text) + " "
    for other in below:
        if plain(other.text).startswith(start) and not has_digit(other.text):
            return other
    return line


def _detail_or_label(line: Line, labels: frozenset[str]) -> bool:
    """Contact details or a title, a line that is nothing but a label (one of the field's
    `labels`, a built-in field's, or any text ending in ":"), or a form's field for
    something other than a name ("Währung: EUR")."""
    text = line.text
    return (
        bool(ADDRESS_STOP.search(text))
        or text.endswith(":")
        or plain(text) in labels
        or is_builtin_label(line.words)
        or labels_other_than_name(leading_label(line.words))
    )


def _address(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """The lines under the seller's name, from the first with a number (or naming a
    building) to the postcode (plus a short place-name line), skipping registration
    numbers and stopping at phone numbers, dates and document details. Lines under the
    name that reach no postcode are no address when a run from the top of the page reaches
    one: the name taken for the seller was a legal name printed under the shop's address,
    and its next lines with a number are the items bought."""
    header = _header_lines(lines)
    company = _company_line(header)
    picked = _address_run(header, header.index(company[0]) + 1 if company else 0)
    if company and not _has_postcode(picked):
        from_top = _address_run(header, 0)
        picked = from_top if _has_postcode(from_top) else picked
    if not picked:
        return None
    words = [word for line in picked for word in line.words]
    return Found(" ".join(line.text for line in picked), picked[0].page, words, 0.6)


def _address_run(header: list[Line], start: int) -> list[Line]:
    """The address lines read from header line `start` on, by `_address`'s rule."""
    picked: list[Line] = []
    for line in header[start:]:
        text = line.text
        if REGISTRATION.search(text.strip()):
            continue
        if ADDRESS_STOP.search(text) or find_dates(text):
            if picked:
                break
            continue
        if not picked and not (_numbered(line) or BUILDING.search(text)):
            continue
        if picked and _has_postcode(picked[-1:]) and (has_digit(text) or len(text.split()) > 3):
            break
        picked.append(line)
    return picked


def _numbered(line: Line) -> bool:
    """The line prints a number that could open an address: a company's number after the
    end of its name ("bakery 000965911·p") opens none."""
    return any(has_digit(w.text) and not REGISTRATION_WORD.match(w.text) for w in line.words)


def _has_postcode(run: list[Line]) -> bool:
    return any(POSTCODE.search(line.text) for line in run)


def _header_lines(lines: list[list[Line]]) -> list[Line]:
    """The top of the first page, without running headers: a line printed on other pages
    too (a form's title, "Page 1 of 3" aside) names the document's template, not its
    seller."""
    if not lines or not lines[0]:
        return []
    elsewhere = {plain(line.text) for page in lines[1:] for line in page}
    return [
        line
        for line in lines[0]
        if line.box.y0 < HEADER_SHARE and plain(line.text) not in elsewhere
    ]


def plain(text: str) -> str:
    return " ".join(text.casefold().split())


def _currency(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """The code or symbol printed right after the currency's label ("Währung: EUR"), else the
    one printed most often, with an amount ("€2.00") or as a word of its own ("1.234,56
    €"). A text layer may render a "§" as "$" ("§4 UStG" as "$4 UStG") where the amounts
    print "€" apart from their digits: neither the label nor the words apart lose to it."""
    keyed = _keyed_currency(spec, lines)
    if keyed is not None:
        return keyed
    seen: dict[str, list[Word]] = {}
    for word in _all_words(lines):
        for amount, _ in find_amounts(word.text):
            if amount.currency:
                seen.setdefault(amount.currency, []).append(word)
    for word in _all_words(lines):  # "1.234,56 €": the code or symbol as a word of its own
        code = _currency_code(word)
        if code:
            seen.setdefault(code, []).append(word)
    if not seen:
        return None
    code, words = max(seen.items(), key=lambda item: len(item[1]))
    return Found(code, page_of(words, 0), words[:1], 0.7)


def _keyed_currency(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """A code or symbol printed right after one of the currency's labels ("Rechnungswährung
    : GBP"); a label with words between names another currency ("Währung der
    Umsatzsteuerbuchung : EUR", the VAT's booking currency)."""
    for page_lines in lines:
        for label in spec.labels:
            for hit in find_keys(page_lines, label):
                words = [word for word in hit.value_words if word.text.strip(":")]
                code = _currency_code(words[0]) if words else None
                if code:
                    return Found(code, words[0].box.page, words[:1], 0.9)
    return None


def _currency_code(word: Word) -> str | None:
    """The ISO code a word prints, itself or as its symbol."""
    code = norm_token(word.text).upper()
    return CURRENCY_SYMBOLS.get(word.text.strip().casefold()) or (
        code if code in ISO_CURRENCIES else None
    )


def _all_words(lines: list[list[Line]]) -> Iterator[Word]:
    for page_lines in lines:
        for line in page_lines:
            yield from line.words


ITEM_HEADER = {"item", "items", "description", "desc", "qty", "quantity", "price", "amount"}
ITEMS_END = re.compile(r"\b(sub\s*-?\s*total|total|tax|vat|gst)\b", re.IGNORECASE)


def _line_items(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """Rows between a table header (Item, Qty, Price, Amount...) and the first total line
    that end in an amount, as JSON: description, quantity, unit price, amount."""
    rows: list[dict[str, str | None]] = []
    words: list[Word] = []
    for page_lines in lines:
        in_table = False
        for line in page_lines:
            tokens = {norm_token(word.text) for word in line.words}
            if not in_table:
                in_table = len(tokens & ITEM_HEADER) >= 2
                continue
            if ITEMS_END.search(line.text):
                break
            row = _item_row(line)
            if row is not None:
                rows.append(row)
                words.extend(line.words)
    if not rows:
        return None
    return Found(json.dumps(rows), words[0].box.page, words, 0.5)


def _item_row(line: Line) -> dict[str, str | None] | None:
    """Description, then a run of numbers at the end of the row: [qty] [unit price] amount.
    Of two numbers, the first is a quantity when it is a whole number printed without
    decimals beside an amount with them ("Pens 2 5.00"), else the unit price."""
    tokens = line.text.split()
    split = len(tokens)
    while split > 0 and re.fullmatch(r"[-(]?\d[\d.,]*\)?", tokens[split - 1]):
        split -= 1
    description = " ".join(tokens[:split])
    if split == len(tokens) or not any(char.isalpha() for char in description):
        return None
    *before, amount = tokens[split:]
    quantity: str | None
    unit_price: str | None
    if len(before) == 1 and before[0].isdigit() and not amount.isdigit():
        quantity, unit_price = before[0], None  # "Pens 2 5.00": a count, no price
    else:
        quantity = before[-2] if len(before) >= 2 else None
        unit_price = before[-1] if before else None
    return {
        "description": description,
        "quantity": normalize_number(quantity) if quantity else None,
        "unit_price": normalize_amount(unit_price) if unit_price else None,
        "amount": normalize_amount(amount),
    }


LAYOUT_RULES: dict[str, Callable[[FieldSpec, list[list[Line]]], Found | None]] = {
    "company": _company,
    "vendor": _company,
    "address": _address,
    "currency": _currency,
    "line_items": _line_items,
}
ISO_CURRENCIES = set(CURRENCY_SYMBOLS.values())
