"""The buyer where no label names it: the recipient at the top of a postal block.

A letter addresses its recipient in a block set for an envelope's window: name, street,
postcode and town in one column, with nothing over them (DIN 5008 in Germany; French,
Dutch and Italian letters alike). Invoices that print one often carry no "Bill to" at all,
only keys for the buyer's other details ("N° TVA client FR19787878784"), and the buyer's
rules read nothing or the wrong detail. A block is found from its postcode line, up its
column; the seller's own block (its name is the seller's) and a block another label heads
("Adresse de livraison", "Ship to:") name someone else.
"""

from __future__ import annotations

import re

from pipeline.engines.keyvalue import Found, column_cells
from pipeline.engines.layout_rules import (
    ALIGNED,
    HEADER_SHARE,
    after_label,
    is_builtin_label,
    name_text,
    plain,
    salutation_only,
)
from pipeline.layout import Line
from pipeline.types import Word

# A cell that is a postcode and town: "69001 Lyon", "D-88802 Spielkreis", "1100-048
# Lisboa", "1012 AB Amsterdam", "Springfield, IL 62704", "London SW1A 1AA".
POSTAL_LINE = re.compile(
    r"^([A-Z]{1,2}-)?\d{4,5}(-\d{3})?\s+[^\W\d_]"
    r"|^\d{4}\s?[A-Z]{2}\s+[^\W\d_]"
    r"|[^\W\d_],?\s+[A-Z]{2}\s+\d{5}(-\d{4})?$"
    r"|[^\W\d_]\s+[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}$"
)
PARTS = re.compile(r"[·•●|]| - ")  # what joins a return address's parts on one line
# Labels over a block that is not the buyer's, in the invoice languages.
OTHER_PARTY = re.compile(
    r"\b(ship(ped)?\s+to|deliver(y|ed)?(\s+(to|address))?|lieferadresse|lieferanschrift|"
    r"lieferung\s+an|adresse\s+de\s+livraison|livr[ée]\s+[àa]|afleveradres|leveradres|"
    r"direcci[óo]n\s+de\s+entrega|entregar\s+a|indirizzo\s+di\s+consegna|consegna\s+a|"
    r"morada\s+de\s+entrega|endere[çc]o\s+de\s+entrega)\b",
    re.IGNORECASE,
)
BLOCK_GAP = 1.5  # a block's lines lie closer than this many line heights apart (1.5 spacing)
MAX_LINES = 6  # name, a contact or department, street, postcode and town, country
SCORE = 0.5


def window_party(lines: list[list[Line]], seller: Found | None) -> Found | None:
    """The name at the top of the first postal block at the top of the first page that
    is neither the seller's nor under another party's label; None when there is none."""
    header = [line for line in lines[0] if line.box.y0 < HEADER_SHARE] if lines else []
    for index, line in enumerate(header):
        for cell in column_cells(line.words):
            if POSTAL_LINE.search(_text(cell)):
                name = _recipient(_block_above(header, index, cell), seller)
                if name is not None:
                    return name
    return None


def _block_above(header: list[Line], index: int, cell: list[Word]) -> list[list[Word]]:
    """The cells set in `cell`'s column right above it, top first, and `cell`; with the
    nearest such cell further up when it is a label (the block's heading)."""
    left = cell[0].box.x0
    block = [cell]
    for line in reversed(header[:index]):
        top = block[0][0].box
        aligned = [c for c in column_cells(line.words) if abs(c[0].box.x0 - left) < ALIGNED]
        if aligned and _holds_postcode(aligned[0]):
            return block  # another block's end: the return address over the window
        if aligned and top.y0 - aligned[0][-1].box.y1 < (top.y1 - top.y0) * BLOCK_GAP:
            block.insert(0, aligned[0])
        elif aligned:
            return [aligned[0], *block] if _is_heading(aligned[0]) else block
        if len(block) == MAX_LINES or line.box.y1 < top.y0 - (top.y1 - top.y0) * 3:
            return block
    return block


def _holds_postcode(cell: list[Word]) -> bool:
    """A postcode and town is printed in the cell, alone or as one of the parts a
    separator joins ("Bei Spiel GmbH · Ecke 12 · 12345 Stadthausen")."""
    return any(POSTAL_LINE.search(part.strip()) for part in PARTS.split(_text(cell)))


def _recipient(block: list[list[Word]], seller: Found | None) -> Found | None:
    """The block's name: its first cell, with the line under a salutation standing alone
    ("Herrn" over "Max Mustermann"); None for a one-line block (a letterhead, the return
    address over the window), a block under a heading, or the seller's."""
    if len(block) < 2 or any(_is_heading(cell) for cell in block):
        return None
    words = after_label(block[0])
    if salutation_only(words):
        words = [*words, *block[1]]
    text = name_text(words)
    if any(word.text.strip(",.").isdigit() for word in words) or sum(map(str.isalpha, text)) < 3:
        return None  # a street or a number, not a name: the block's name is elsewhere
    if seller is not None and plain(seller.text) == plain(text):
        return None
    return Found(text, words[0].box.page, words, SCORE)


def _is_heading(cell: list[Word]) -> bool:
    """A label over a block: another party's ("Delivery address"), a built-in field's, or
    any text ending in a colon."""
    text = _text(cell)
    return bool(OTHER_PARTY.search(text)) or text.endswith(":") or is_builtin_label(cell)


def _text(cell: list[Word]) -> str:
    return " ".join(word.text for word in cell)
