"""Synthetic invoices in the seven invoice languages, as labelled training documents.

The development invoices come from a few German and French generators: a ranker trained on
them alone learns their habits (the buyer's name under "Name:" in a "Käufer" block) and not
what every invoice shares (a value beside or under its printed key, a total that is the sum
of net and tax, a seller's name at the top). These documents vary exactly that: language
and label wording, key beside or above the value, where blocks sit, date and number
formats, legal forms, a name wrapped after a salutation, a due date printed or not. They
are training data only: cross-validation never scores them (`scored=False`).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from pipeline.engines.ranker_training import LabelledDocument
from pipeline.fields.schemas import load_schema
from pipeline.types import Box, Page, TextSource, Word

CHAR, LINE = 0.0072, 0.013  # a character's width and a line's height at body size
# Each weighs a tenth of a real document: enough to teach what the real ones never show
# (a buyer's name beside its key), too little to outvote what they do show.
WEIGHT = 0.1


@dataclass(frozen=True)
class Language:
    title: str
    number: str
    issued: str
    due: str
    buyer: str
    seller: str
    net: str
    tax: str
    total: str
    legal_forms: tuple[str, ...]
    salutation: str
    date_format: str  # strftime
    decimal_comma: bool


LANGUAGES = (
    Language("Invoice", "Invoice No.", "Invoice date", "Due date", "Bill to", "From",
             "Subtotal", "VAT", "Total due", ("Ltd", "Inc.", "LLC", ""), "Mr", "%d/%m/%Y", False),
    Language("Rechnung", "Rechnungsnummer", "Rechnungsdatum", "Fällig am", "Rechnungsempfänger",
             "Verkäufer", "Nettobetrag", "MwSt", "Gesamtbetrag", ("GmbH", "AG", "KG", ""),
             "Herrn", "%d.%m.%Y", True),
    Language("Facture", "Facture n°", "Date de facture", "Échéance", "Client", "Vendeur",
             "Total HT", "TVA", "Total TTC", ("SARL", "SAS", "SA", ""), "M.", "%d/%m/%Y", True),
    Language("Factuur", "Factuurnummer", "Factuurdatum", "Vervaldatum", "Klant", "Leverancier",
             "Subtotaal", "BTW", "Totaal", ("BV", "NV", ""), "Dhr.", "%d-%m-%Y", True),
    Language("Factura", "Número de factura", "Fecha", "Vencimiento", "Cliente", "Proveedor",
             "Base imponible", "IVA", "Total", ("S.L.", "S.A.", ""), "Sr.", "%d/%m/%Y", True),
    Language("Fattura", "Numero fattura", "Data fattura", "Scadenza", "Intestatario",
             "Fornitore", "Imponibile", "IVA", "Totale", ("S.r.l.", "S.p.A.", ""), "Sig.",
             "%d/%m/%Y", True),
    Language("Fatura", "Número da fatura", "Data da fatura", "Vencimento", "Cliente",
             "Fornecedor", "Subtotal", "IVA", "Total", ("Lda", "S.A.", ""), "Sr.", "%d.%m.%Y",
             True),
)  # fmt: skip
NAMES = ("Nordlicht", "Blue Harbor", "Atelier Rousseau", "Van Dijk", "Sierra Verde",
         "Lago Blu", "Porto Sol", "Kestrel", "Mosaic", "Brightwater", "Alpen",
         "Oakridge")  # fmt: skip
TRADES = ("Trading", "Consulting", "Bakery", "Logistics", "Design", "Software", "Print")
PEOPLE = ("Anna Weber", "Luc Martin", "Eva de Boer", "Marco Rossi", "Ana Costa", "John Smith")
STREETS = ("Hauptstraße 12", "12 rue de la Paix", "Keizersgracht 101", "Calle Mayor 5",
           "Via Roma 22", "Rua Augusta 9", "1 High Street")  # fmt: skip
CITIES = ("10115 Berlin", "75002 Paris", "1015 Amsterdam", "28013 Madrid", "00184 Roma",
          "1100-048 Lisboa", "London EC1A 1BB")  # fmt: skip
# 0%: exports and intra-community supplies, whose tax of 0,00 beside its base the
# development invoices of one family alone print
RATES = (Decimal(7), Decimal(19), Decimal(20), Decimal(21), Decimal(10), Decimal("5.5"), Decimal(0))
CURRENCIES = (("EUR", "€"), ("EUR", "EUR"), ("GBP", "£"), ("USD", "$"), ("CHF", "CHF"))


class _Sheet:
    """A page being written: words with boxes, in page shares."""

    def __init__(self) -> None:
        self.words: list[Word] = []

    def write(self, x: float, y: float, text: str, size: float = 1.0) -> None:
        for token in text.split():
            width = CHAR * size * len(token)
            self.words.append(Word(token, Box(0, x, y, x + width, y + LINE * size)))
            x += width + CHAR * size

    def page(self) -> Page:
        return Page(0, 1240, 1754, 150, TextSource.PDF, self.words)


def synthetic_invoices(count: int, seed: int = 0) -> Iterator[LabelledDocument]:
    """`count` labelled invoices, the same for the same seed."""
    fields = [definition.spec() for definition in load_schema("invoice").fields]
    chance = random.Random(seed)
    for number in range(count):
        sheet, gold, layout = _invoice(chance)
        yield LabelledDocument(
            f"synthetic-{number:04d}",
            f"synthetic/{layout}",
            [sheet.page()],
            fields,
            gold,
            WEIGHT,
            scored=False,
        )


def _invoice(chance: random.Random) -> tuple[_Sheet, dict[str, str], str]:
    language = chance.choice(LANGUAGES)
    sheet, gold = _Sheet(), {}
    seller = _company(chance, language)
    gold["vendor"] = seller
    seller_x = chance.choice((0.08, 0.55))
    if chance.random() < 0.3:
        sheet.write(seller_x, 0.05, f"{language.seller}:")
        sheet.write(seller_x, 0.05 + 1.6 * LINE, seller, 1.3)
    else:
        sheet.write(seller_x, 0.06, seller, chance.choice((1.0, 1.4, 1.8)))
    sheet.write(seller_x, 0.09, chance.choice(STREETS))
    sheet.write(seller_x, 0.09 + 1.4 * LINE, chance.choice(CITIES))
    gold["customer"] = _buyer(chance, language, sheet)
    issued = date(2024, 1, 1) + timedelta(days=chance.randrange(700))
    number = _invoice_number(chance)
    gold |= {"invoice_number": number, "issue_date": issued.isoformat()}
    keys = _header(chance, language, sheet, number, issued, gold)
    code, symbol = chance.choice(CURRENCIES)
    gold["currency"] = code
    y = _items(chance, language, sheet, symbol, gold)
    iban = f"IBAN DE{chance.randrange(10**18):018d}"
    sheet.write(0.08, y + 0.15, f"{iban} · {seller}", 0.8)
    return sheet, gold, f"{language.title}-{seller_x}-{keys}"


def _company(chance: random.Random, language: Language) -> str:
    form = chance.choice(language.legal_forms)
    return " ".join(part for part in (chance.choice(NAMES), chance.choice(TRADES), form) if part)


def _buyer(chance: random.Random, language: Language, sheet: _Sheet) -> str:
    """The buyer's block: its label beside or above the name, or no label at all as in an
    envelope's window; a person after a salutation wraps to the next line."""
    x, y = chance.choice(((0.08, 0.2), (0.08, 0.26), (0.55, 0.2)))
    person = chance.random() < 0.3
    name = chance.choice(PEOPLE) if person else _company(chance, language)
    if chance.random() < 0.25:
        return _window(chance, language, sheet, name, person)
    if person:
        sheet.write(x, y, f"{language.buyer}:")
        sheet.write(x, y + 1.5 * LINE, language.salutation)
        sheet.write(x, y + 3 * LINE, name)
        return f"{language.salutation} {name}"
    if chance.random() < 0.5:
        sheet.write(x, y, f"{language.buyer}: {name}")
    else:
        sheet.write(x, y, f"{language.buyer}:")
        sheet.write(x, y + 1.5 * LINE, name)
    sheet.write(x, y + 3 * LINE, chance.choice(STREETS))
    return name


def _window(
    chance: random.Random, language: Language, sheet: _Sheet, name: str, person: bool
) -> str:
    """The buyer as a letter addresses it, with no label: name (a person's under a
    salutation; a company's with, on some, the person it is for under it), street,
    postcode and town. No return address over it: its first part, the seller's name every
    time, taught the ranker that any part of a letterhead line is the seller, with nothing
    on the real invoices to say otherwise (docs/extractor.md)."""
    named = [language.salutation, name] if person else [name]
    contact = f"{language.salutation} {chance.choice(PEOPLE)}"
    under = [contact] if not person and chance.random() < 0.4 else []
    for row, text in enumerate([*named, *under, chance.choice(STREETS), chance.choice(CITIES)]):
        sheet.write(0.08, 0.2 + row * 1.5 * LINE, text)
    return " ".join(named)


def _invoice_number(chance: random.Random) -> str:
    prefix = chance.choice(("", "INV-", "RE-", "F", "2024-", "A/"))
    return f"{prefix}{chance.randrange(100, 10 ** chance.randrange(4, 8))}"


def _header(
    chance: random.Random,
    language: Language,
    sheet: _Sheet,
    number: str,
    issued: date,
    gold: dict[str, str],
) -> str:
    """Title, number and dates: in a key-value block beside the buyer, or keys above their
    values in a row of columns; returns which."""
    due = issued + timedelta(days=chance.choice((14, 30, 60)))
    has_due = chance.random() < 0.7
    if has_due:
        gold["due_date"] = due.isoformat()
    title = language.title.upper() if chance.random() < 0.5 else language.title
    sheet.write(0.08, 0.36, title, 1.6)
    pairs = [(language.number, number), (language.issued, issued.strftime(language.date_format))]
    if has_due:
        pairs.append((language.due, due.strftime(language.date_format)))
    if chance.random() < 0.5:
        for row, (key, value) in enumerate(pairs):
            sheet.write(0.55, 0.28 + row * 1.6 * LINE, f"{key}:")
            sheet.write(0.78, 0.28 + row * 1.6 * LINE, value)
        return "beside"
    for column, (key, value) in enumerate(pairs):
        sheet.write(0.08 + column * 0.28, 0.40, key)
        sheet.write(0.08 + column * 0.28, 0.40 + 1.5 * LINE, value)
    return "above"


def _items(
    chance: random.Random, language: Language, sheet: _Sheet, symbol: str, gold: dict[str, str]
) -> float:
    """Two to five rows at one or two VAT rates, a breakdown by rate where there are two,
    then net, tax and total under them; returns where the page ends."""
    y, nets = 0.48, defaultdict[Decimal, Decimal](Decimal)
    rates = chance.sample(RATES, chance.choice((1, 1, 2)))
    for row in range(chance.randrange(2, 6)):
        quantity, price = chance.randrange(1, 20), Decimal(chance.randrange(100, 50000)) / 100
        nets[rates[row % len(rates)]] += quantity * price
        sheet.write(0.08, y, f"{chance.choice(TRADES)} service {row + 1}")
        sheet.write(0.5, y, str(quantity))
        sheet.write(0.62, y, _money(price, language))
        sheet.write(0.8, y, _money(quantity * price, language))
        y += 1.8 * LINE
    taxes = {rate: (net * rate / 100).quantize(Decimal("0.01")) for rate, net in nets.items()}
    if len(nets) > 1 or chance.random() < 0.25:
        y = _breakdown(language, sheet, y, nets, taxes, chance.random() < 0.5)
    net, tax = sum(nets.values(), Decimal(0)), sum(taxes.values(), Decimal(0))
    tax_key = f"{language.tax} {rates[0]}%" if len(nets) == 1 else language.tax
    for key, value in ((language.net, net), (tax_key, tax), (language.total, net + tax)):
        y += 1.8 * LINE
        sheet.write(0.55, y, key)
        sheet.write(0.8, y, f"{_money(value, language)} {symbol}")
    gold |= {"subtotal": str(net), "tax": str(tax), "total": str(net + tax)}
    return y


def _breakdown(
    language: Language,
    sheet: _Sheet,
    y: float,
    nets: dict[Decimal, Decimal],
    taxes: dict[Decimal, Decimal],
    labelled_rows: bool,
) -> float:
    """The VAT table: rate, net and tax columns under their heads, a row per rate. Its
    heads are the subtotal's and the tax's own labels, over a row's amounts, not the
    document's; or each row opens with the tax's label ("TVA 20% 81,90 16,38"), where the
    first amount after the label is the rate's base, not its tax."""
    y += 1.8 * LINE
    for x, head in ((0.08, "%"), (0.3, language.net), (0.55, language.tax)):
        sheet.write(x, y, head)
    for rate, net in nets.items():
        y += 1.6 * LINE
        sheet.write(0.08, y, f"{language.tax} {rate}%" if labelled_rows else f"{rate}%")
        sheet.write(0.3, y, _money(net, language))
        sheet.write(0.55, y, _money(taxes[rate], language))
    return y


def _money(value: Decimal, language: Language) -> str:
    text = f"{value:,.2f}"
    return text.translate(str.maketrans(",.", ".,")) if language.decimal_comma else text
