"""What a text layer reads as: words, numbers and ids, or the garbage of a font with no
Unicode map; and, when that is in doubt, whether OCR of part of the page agrees with it.

A PDF font without a ToUnicode map (or with a wrong one) gives text extraction the font's
private codes, which come out as accented letters, symbols and stray brackets
(`ÖàãçÖ§ñ àò°éñè •í•Ü`) while the page shows ordinary text. `reading_score` measures
the share of a page's text (in characters) that is shaped like something people write:

- numbers, amounts, dates, percentages (`1,234.56`, `12/03/2024`, `€12.50`, `19%`);
- words of one script, mostly plain letters for Latin (`Größe`, `Facture`, `n°` pass;
  `ñòè` and `àò°éñè` do not);
- ids and codes: ASCII letters and digits joined by `-`, `/`, `.`, `_` (`INV-2024-0042`);
- abbreviations with their full stop, words with an apostrophe or hyphen.

Tokens of one or two characters and lone punctuation are not counted either way: they are
as common in tables of numbers (the hard case) as in garbage.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from PIL import Image
from rapidfuzz import fuzz

from pipeline import ocr
from pipeline.layout import group_lines
from pipeline.types import Word

OPENERS = "\"'([{«„“‘<"
CLOSERS = "\"')]}»”’>.,;:!?*"
# Punctuation that joins the parts of ordinary tokens: numbers (1,234.56 €12 19%), dates,
# ids (INV-2024/0042), e-mail addresses, URLs, compounds (Käufer/Leistungsempfänger),
# units (20°C, ~2000ml), legal references (§5). Anything else inside a token (•, ¤, ^, \,
# brackets...) is what a font without a Unicode map produces, not what people write.
JOINERS = "-–—‐'’‘“”„‟«».,:;/@()#~%‰+=&_!?*°º§$€£¥₹−±\u00ad\u00a0\u202f\""
SPLIT = re.compile(f"[{re.escape(JOINERS)}]+")
MIN_COUNTED_CHARS = 3
MAX_ACCENTED_SHARE = 0.5
STRIP_LINES = 6
STRIP_MARGIN_PX = 8
MIN_TOKEN_MATCH = 80  # rapidfuzz partial ratio of a token against the strip's OCR


def reading_score(words: Sequence[Word]) -> float:
    """Share (0..1) of the counted characters that belong to plausible tokens; 1.0 when
    nothing is counted (no text to judge is no evidence of garbage)."""
    plausible = counted = 0
    for word in words:
        for token in word.text.split():
            core = token.lstrip(OPENERS).rstrip(CLOSERS)
            if len(core) < MIN_COUNTED_CHARS:
                continue
            counted += len(core)
            plausible += len(core) if plausible_token(core) else 0
    return plausible / counted if counted else 1.0


def plausible_token(token: str) -> bool:
    """Whether one token (surrounding punctuation removed) is shaped like written text:
    only letters, digits and joining punctuation, each run of letters a plausible word."""
    return all(_plausible_part(part) for part in SPLIT.split(token) if part)


def _plausible_part(part: str) -> bool:
    if part.isascii():
        return part.isalnum()
    letters = [char for char in part if not char.isdigit()]
    if not all(char.isalpha() for char in letters) or not _one_script(letters):
        return False
    if len(letters) < MIN_COUNTED_CHARS or _script(letters[0]) != "LATIN":
        return True
    accented = sum(1 for char in letters if ord(char) > 0x7F)
    return accented <= MAX_ACCENTED_SHARE * len(letters)


def _one_script(letters: Sequence[str]) -> bool:
    return len({_script(char) for char in letters}) <= 1


def _script(char: str) -> str:
    """The script of a letter, from its Unicode name (LATIN, CYRILLIC, GREEK, CJK...);
    Japanese writes one word in kanji and kana, so those count as one script."""
    name = unicodedata.name(char, "")
    script = name.split(" ", 1)[0] if name else "UNKNOWN"
    return "CJK" if script.startswith(("HIRAGANA", "KATAKANA")) else script


def agreement_with_ocr(words: Sequence[Word], image: Image.Image, page_index: int) -> float:
    """Share (0..1) of the text layer's tokens in a strip of the page that OCR of the same
    strip also reads: the check of a text layer that reads neither clearly true nor
    clearly false. The strip is the `STRIP_LINES` lines around the line with most text,
    so its OCR costs a fraction of the whole page's."""
    lines = group_lines(words)
    if not lines:
        return 0.0
    densest = max(range(len(lines)), key=lambda i: len(lines[i].text))
    strip = lines[max(0, densest - STRIP_LINES // 2) : densest + STRIP_LINES // 2 + 1]
    top = min(line.box.y0 for line in strip) * image.height - STRIP_MARGIN_PX
    bottom = max(line.box.y1 for line in strip) * image.height + STRIP_MARGIN_PX
    crop = image.crop((0, max(0, int(top)), image.width, min(image.height, int(bottom) + 1)))
    read = " ".join(_comparable(word.text) for word in ocr.ocr_image(crop, page_index))
    tokens = [
        _comparable(token)
        for line in strip
        for token in line.text.split()
        if len(_comparable(token)) >= MIN_COUNTED_CHARS
    ]
    if not tokens:
        return 0.0
    found = sum(1 for token in tokens if fuzz.partial_ratio(token, read) >= MIN_TOKEN_MATCH)
    return found / len(tokens)


def _comparable(text: str) -> str:
    return "".join(char for char in text.casefold() if char.isalnum())
