"""The `extractive` engine: answers read off the page layout, no model weights.

Fields are found by their printed keys (pipeline.engines.keyvalue) and typed candidates
(dates, amounts, ids in pipeline.fields.normalize); the fields no key announces (the
seller's name and address, the currency, line items) have their own rules in
pipeline.engines.layout_rules. Questions are matched to the built-in fields by wording,
and otherwise read as a key to look up ("Who is the cashier?" -> the value after
"Cashier"). It is the baseline Florence-VL must beat and the fallback on machines
without the model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from rapidfuzz import fuzz

from pipeline.engines.base import Answer, Engine, FieldSpec, FieldValue, Question
from pipeline.engines.keyvalue import Found, KeyHit, find_keys, has_digit, norm_token, page_of
from pipeline.engines.layout_rules import LAYOUT_RULES, after_label
from pipeline.fields.normalize import find_amounts, find_dates
from pipeline.fields.schemas import builtin_schema_names, load_schema
from pipeline.layout import Line, group_lines
from pipeline.types import Box, Page, Word

QUESTION_MATCH_MIN = 85.0
WH_WORDS = re.compile(
    r"^(what|which|who|whom|when|where|how much|how many)\b( is| are| was| were|'s)?"
    r"( the| this| its)?\s*",
    re.IGNORECASE,
)


class ExtractiveEngine(Engine):
    name = "extractive"
    model_revision = "rules-2"  # 2: labels in seven languages, id-shaped ids, before-tax keys
    prompt_version = "1"
    model_name = "layout-rules"

    def __init__(self) -> None:
        self._known_fields = [
            definition.spec()
            for schema in builtin_schema_names()
            for definition in load_schema(schema).fields
        ]

    def extract(self, pages: Sequence[Page], fields: Sequence[FieldSpec]) -> list[FieldValue]:
        lines = _page_lines(pages)
        return [_to_field_value(spec, find_field(spec, lines)) for spec in fields]

    def answer(self, pages: Sequence[Page], questions: Sequence[Question]) -> list[Answer]:
        """Answer each question from its page's lines (grouped once per page, not per question)."""
        asked = {question.page for question in questions}
        lines_of = {page.index: _page_lines([page]) for page in pages if page.index in asked}
        answers = []
        for question in questions:
            found = self._answer_one(question.text, lines_of[question.page])
            if found is None:
                answers.append(Answer(question, "", 0.0))
            else:
                answers.append(Answer(question, found.text, found.score, _line_boxes(found.words)))
        return answers

    def _answer_one(self, question: str, lines: list[list[Line]]) -> Found | None:
        spec = self.match_field(question)
        if spec is not None:
            found = find_field(spec, lines)
            if found is not None:
                return found
        key = WH_WORDS.sub("", question.strip().rstrip("?").strip())
        return _keyed_value(FieldSpec(key, "string", labels=(key,)), lines)

    def match_field(self, question: str) -> FieldSpec | None:
        """The built-in field a question asks for, when its wording clearly names one."""
        best, best_score = None, QUESTION_MATCH_MIN
        asked = WH_WORDS.sub("", question.lower().rstrip("?"))
        for spec in self._known_fields:
            names = [spec.name.replace("_", " "), *spec.labels]
            # ratio, not token_set_ratio: "total" must not fully match "sub total"
            score = max(fuzz.ratio(asked, name) for name in names)
            score = max(score, fuzz.ratio(question.lower(), spec.question.lower()))
            if score > best_score:
                best, best_score = spec, score
        return best


def _page_lines(pages: Sequence[Page]) -> list[list[Line]]:
    return [group_lines(page.words) for page in pages]


def _to_field_value(spec: FieldSpec, found: Found | None) -> FieldValue:
    if found is None:
        return FieldValue(spec, "", None, 0.0)
    return FieldValue(spec, found.text, found.page, found.score, _line_boxes(found.words))


def _line_boxes(words: Sequence[Word]) -> list[Box]:
    """One box per line the words cover, in reading order."""
    boxes: list[Box] = []
    for line in group_lines(words):
        boxes.append(line.box)
    return boxes


def find_field(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """The best value for `spec` in a document given as lines per page."""
    rule = LAYOUT_RULES.get(spec.name)
    if rule is not None:
        return rule(spec, lines)
    if spec.repeated:
        return _keyed_list(spec, lines)
    if spec.type == "date":
        return _date_value(spec, lines)
    if spec.type in ("amount", "number"):
        return _amount_value(spec, lines)
    if spec.type == "id":
        return _id_value(spec, lines)
    return _keyed_value(spec, lines)


def _keyed_hits(spec: FieldSpec, lines: list[list[Line]]) -> list[tuple[int, KeyHit]]:
    hits: list[tuple[int, KeyHit]] = []
    for page_number, page_lines in enumerate(lines):
        for label in spec.labels:
            hits.extend((page_number, hit) for hit in find_keys(page_lines, label))
    return [(page, hit) for page, hit in hits if not _excluded(spec, hit)]


def _excluded(spec: FieldSpec, hit: KeyHit) -> bool:
    """Keys that look like the field's but name another value (SUB TOTAL, TOTAL QTY,
    "Summe ohne USt."): judged on the key with the word before it and the two after it,
    where such qualifiers are printed."""
    patterns = EXCLUDED_KEYS.get(spec.name, ())
    around = [*hit.before_words[-1:], *hit.key_words, *hit.value_words[:2]]
    context = " ".join(word.text for word in around)
    return any(re.search(pattern, context, re.IGNORECASE) for pattern in patterns)


def _keyed_value(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    return _best_after_key(_keyed_hits(spec, lines), _string_after)


def _id_value(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    return _best_after_key(_keyed_hits(spec, lines), _id_after)


Reader = Callable[[KeyHit, int], "Found | None"]


def _best_after_key(hits: list[tuple[int, KeyHit]], read: Reader) -> Found | None:
    """The value after the best-matching key that has one."""
    for page_number, hit in sorted(hits, key=lambda item: -item[1].score):
        found = read(hit, page_number)
        if found is not None:
            return found
    return None


def _keyed_list(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """A repeated field without a layout rule: the value after every key, in reading order,
    each once, as a JSON array of strings."""
    read = _READERS.get(spec.type, _string_after)
    hits = sorted(_keyed_hits(spec, lines), key=lambda item: (item[0], item[1].line))
    found: dict[str, Found] = {}
    for page_number, hit in hits:
        value = read(hit, page_number)
        if value is not None:
            found.setdefault(value.text, value)
    if not found:
        return None
    values = list(found.values())
    words = [word for value in values for word in value.words]
    score = min(value.score for value in values)
    return Found(json.dumps(list(found), ensure_ascii=False), values[0].page, words, score)


def _string_after(hit: KeyHit, page: int) -> Found | None:
    words = [w for w in after_label(hit.value_words) if norm_token(w.text) or w.text.strip(":")]
    words = _one_column(words)
    if not words:
        return None
    text = " ".join(word.text for word in words).strip(" :")
    return Found(text, page_of(words, page), words, hit.score)


def _id_after(hit: KeyHit, page: int) -> Found | None:
    """The first of the next few words that is id-shaped (holds a digit, is no date, is not
    a bracketed code such as "(380)"). A key word in running prose ("Rechnung gemäß
    Bestellung ...") is followed by none, and gives nothing."""
    for word in hit.value_words[:ID_SEARCH_WORDS]:
        text = word.text.strip(" :;,")
        if has_digit(text) and not find_dates(text) and not text.startswith("("):
            return Found(text, page_of([word], page), [word], hit.score)
    return None


ID_SEARCH_WORDS = 3
# A gap this wide (a share of the page's width, some four characters of body text) between
# two words of a value is a column boundary: the value ends there.
COLUMN_GAP = 0.04


def _one_column(words: list[Word]) -> list[Word]:
    """The value's words up to the first column gap ("993548900   IBAN NL50..." ends at
    "993548900")."""
    for index in range(1, len(words)):
        if words[index].box.x0 - words[index - 1].box.x1 > COLUMN_GAP:
            return words[:index]
    return words


def _date_value(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """Dates after the field's key first; otherwise the first date printed."""
    for page_number, hit in _keyed_hits(spec, lines):
        found = _first_date(hit.value_words, page_number, hit.score)
        if found is not None:
            return found
    for page_number, page_lines in enumerate(lines):
        for line in page_lines:
            found = _first_date(line.words, page_number, 0.6)
            if found is not None:
                return found
    return None


def _first_date(words: Sequence[Word], page: int, score: float) -> Found | None:
    for start in range(len(words)):
        for end in range(start + 1, min(start + 4, len(words)) + 1):
            chunk = words[start:end]
            text = " ".join(word.text for word in chunk)
            dates = find_dates(text)
            if dates:
                _, (begin, finish) = dates[0]
                return Found(text[begin:finish], page_of(chunk, page), list(chunk), score)
    return None


def _amount_value(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """The amount after the field's key. Printed money has decimals, so those win; among
    several, one read after a key naming the final amount ("Nett Total", "Amount due"),
    then the largest (a total is never below its parts; qualifiers that name other
    amounts, such as SUB TOTAL or TOTAL QTY, are excluded first)."""
    candidates = []
    for page_number, hit in _keyed_hits(spec, lines):
        amount = _last_amount(hit.value_words, page_number, hit.score)
        if amount is not None:
            final = bool(FINAL_AMOUNT_KEY.search(hit.key_text))
            candidates.append(Found(amount.text, amount.page, amount.words, amount.score, final))
    if not candidates and "total" in spec.name:
        return _largest_amount(lines)
    if not candidates:
        return None
    return max(candidates, key=lambda found: (_has_decimals(found), found.final, _amount_of(found)))


def _has_decimals(found: Found) -> bool:
    return bool(re.search(r"[.,]\d{2}$", found.text))


def _largest_amount(lines: list[list[Line]]) -> Found | None:
    """A receipt with no readable total key: the largest decimal amount that is not change."""
    best: Found | None = None
    for page_number, page_lines in enumerate(lines):
        for line in page_lines:
            if re.search(r"\bchange\b", line.text, re.IGNORECASE):
                continue
            found = _last_amount(line.words, page_number, 0.3)
            if (
                found
                and _has_decimals(found)
                and (best is None or _amount_of(found) > _amount_of(best))
            ):
                best = found
    return best


def _last_amount(words: Sequence[Word], page: int, score: float) -> Found | None:
    for word in reversed(words):
        if find_amounts(word.text) and not find_dates(word.text) and ":" not in word.text[1:-1]:
            amount, (begin, end) = find_amounts(word.text)[-1]
            return Found(word.text[begin:end].strip(), page_of([word], page), [word], score)
    return None


def _amount_of(found: Found) -> float:
    amounts = find_amounts(found.text)
    return float(amounts[-1][0].value) if amounts else float("-inf")


_READERS: dict[str, Reader] = {
    "id": _id_after,
    "date": lambda hit, page: _first_date(hit.value_words, page, hit.score),
    "amount": lambda hit, page: _last_amount(hit.value_words, page, hit.score),
    "number": lambda hit, page: _last_amount(hit.value_words, page, hit.score),
}
FINAL_AMOUNT_KEY = re.compile(
    r"\b(nett?|grand|rounded)\s*total|total\s*(payable|due)|amount\s*(due|payable)",
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
