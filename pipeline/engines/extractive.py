"""The `extractive` engine: answers read off the page layout, no model weights.

Fields are found by their printed keys (pipeline.engines.keyvalue, read by
pipeline.engines.readers) and typed values (dates, amounts, ids in
pipeline.fields.normalize); the fields no key announces (the seller's name and address,
the currency, line items) have their own rules in pipeline.engines.layout_rules. Those
rules settle on one value; a learned ranker (pipeline.engines.ranker) then chooses among
all of a field's candidates, the rules' value one of them, and says how sure it is.
Questions are matched to the built-in fields by wording, and otherwise read as a key to
look up ("Who is the cashier?" -> the value after "Cashier"). It is the baseline
Florence-VL must beat and the fallback on machines without the model.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence

from rapidfuzz import fuzz

from pipeline.engines.base import Answer, Engine, FieldSpec, FieldValue, Question
from pipeline.engines.candidates import field_candidates
from pipeline.engines.keyvalue import Found, KeyHit
from pipeline.engines.layout_rules import LAYOUT_RULES, labelled_party, seller
from pipeline.engines.postal_blocks import window_party
from pipeline.engines.ranker import Ranker, load_ranker
from pipeline.engines.readers import (
    FINAL_AMOUNT_KEY,
    Reader,
    amount_of,
    amounts_in,
    first_date,
    has_decimals,
    id_after,
    keyed_hits,
    last_amount,
    value_reader,
)
from pipeline.engines.tax_rates import rate_taxes
from pipeline.fields.schemas import builtin_fields
from pipeline.layout import Line, group_lines
from pipeline.types import Box, Page, Word

QUESTION_MATCH_MIN = 85.0
WH_WORDS = re.compile(
    r"^(what|which|who|whom|when|where|how much|how many)\b( is| are| was| were|'s)?"
    r"( the| this| its)?\s*",
    re.IGNORECASE,
)


RULES_REVISION = "rules-3"  # 3: candidates for a ranker; 2: seven languages, id-shaped ids


class ExtractiveEngine(Engine):
    """Rules propose, the ranker disposes: each single-valued field's candidates
    (pipeline.engines.candidates, the rules' own value among them) are ranked by `ranker`
    (the one docfuse ships when none is given), whose calibrated probability is the value's
    confidence. List fields and fields the ranker has no weights for keep the rules' value."""

    name = "extractive"
    prompt_version = "1"
    model_name = "layout-rules"

    def __init__(self, ranker: Ranker | None = None) -> None:
        self.ranker = ranker if ranker is not None else load_ranker()
        self.model_revision = f"{RULES_REVISION}+ranker.{self.ranker.version}"
        self._known_fields = [definition.spec() for definition in builtin_fields()]

    def extract(self, pages: Sequence[Page], fields: Sequence[FieldSpec]) -> list[FieldValue]:
        lines = _page_lines(pages)
        return [_to_field_value(spec, self.find(spec, lines)) for spec in fields]

    def find(self, spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
        """The field's value: the ranker's pick among its candidates, scored by calibrated
        confidence; the rules' value where the ranker does not decide."""
        chosen = find_field(spec, lines)
        if spec.repeated:
            return chosen
        picked = self.ranker.pick(spec, field_candidates(spec, lines, chosen))
        if picked is None:
            return chosen
        candidate, confidence = picked
        return dataclasses.replace(candidate.found, score=confidence)

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
            found = self.find(spec, lines)
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
        return _tax_value(spec, lines) if spec.name == "tax" else _amount_value(spec, lines)
    if spec.type == "id":
        return _id_value(spec, lines)
    if spec.name == "customer":
        return (
            labelled_party(spec, lines)
            or _keyed_value(spec, lines)
            or window_party(lines, seller(lines))
        )
    return _keyed_value(spec, lines)


def _keyed_value(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    return _best_after_key(keyed_hits(spec, lines), value_reader(spec))


def _id_value(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    return _best_after_key(keyed_hits(spec, lines), id_after)


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
    read = value_reader(spec)
    hits = sorted(keyed_hits(spec, lines), key=lambda item: (item[0], item[1].line))
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


def _date_value(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """Dates after the field's key first, the most specific key's ("Date de facture"
    before a bare "Date"); otherwise the first date printed."""
    hits = sorted(keyed_hits(spec, lines), key=lambda item: -len(item[1].key_words))
    for page_number, hit in hits:
        found = first_date(hit.value_words, page_number, hit.score)
        if found is not None:
            return found
    for page_number, page_lines in enumerate(lines):
        for line in page_lines:
            found = first_date(line.words, page_number, 0.6)
            if found is not None:
                return found
    return None


def _amount_value(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """The amount after the field's key. Printed money has decimals, so those win; among
    several, one read after a key naming the final amount ("Nett Total", "Amount due"),
    then the largest (a total is never below its parts, in size: a credit note prints them
    negative; qualifiers that name other amounts, such as SUB TOTAL or TOTAL QTY, are
    excluded first)."""
    candidates = []
    for page_number, hit in keyed_hits(spec, lines):
        amount = last_amount(hit.value_words, page_number, hit.score)
        if amount is not None:
            final = bool(FINAL_AMOUNT_KEY.search(hit.key_text))
            candidates.append(Found(amount.text, amount.page, amount.words, amount.score, final))
    if not candidates and "total" in spec.name:
        return _largest_amount(lines)
    if not candidates:
        return None
    return max(
        candidates, key=lambda found: (has_decimals(found), found.final, abs(amount_of(found)))
    )


def _tax_value(spec: FieldSpec, lines: list[list[Line]]) -> Found | None:
    """The tax: the largest of the amounts after its keys that a printed rate makes of
    another amount, or that several such add up to (pipeline.engines.tax_rates): the
    largest amount after "TVA" on a VAT table's row is the rate's base. Else the amount
    after a key, as for any amount."""
    taxes = rate_taxes(lines)
    taxed = [
        found
        for page, hit in keyed_hits(spec, lines)
        for found in amounts_in(hit.value_words, page, hit.score)
        if taxes.is_share(found) or taxes.is_total(found)
    ]
    if not taxed:
        return _amount_value(spec, lines)
    return max(taxed, key=lambda found: abs(amount_of(found)))


def _largest_amount(lines: list[list[Line]]) -> Found | None:
    """A receipt with no readable total key: the largest decimal amount that is not change."""
    best: Found | None = None
    for page_number, page_lines in enumerate(lines):
        for line in page_lines:
            if re.search(r"\bchange\b", line.text, re.IGNORECASE):
                continue
            found = last_amount(line.words, page_number, 0.3)
            if (
                found
                and has_decimals(found)
                and (best is None or amount_of(found) > amount_of(best))
            ):
                best = found
    return best
