"""The candidate ranker: candidates and their features, training, calibration, the file it
is kept in, and the extractive engine deciding by it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import astuple
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from pipeline.engines.base import FieldSpec
from pipeline.engines.candidates import Candidate, field_candidates
from pipeline.engines.extractive import ExtractiveEngine, find_field
from pipeline.engines.ranker import (
    BUILTIN_RANKER,
    Calibration,
    RankerError,
    load_ranker,
    save_ranker,
)
from pipeline.engines.ranker_training import (
    BUILTIN_SETS,
    LabelledDocument,
    _platt,
    cross_validate,
    field_sets,
    fit_ranker,
    load_sets,
    save_sets,
)
from pipeline.engines.synthetic_invoices import synthetic_invoices
from pipeline.layout import group_lines
from pipeline.types import Box, Page, TextSource, Word

CHAR = 0.012  # a character's width, as a share of the page


def _page(rows: list[tuple[float, float, str]], index: int = 0) -> Page:
    """A page with each (x, y, text) printed as words from x on line y."""
    words = []
    for x, y, text in rows:
        for token in text.split():
            width = CHAR * len(token)
            words.append(Word(token, Box(index, x, y, x + width, y + 0.015)))
            x += width + CHAR
    return Page(index, 1000, 1400, 150, TextSource.PDF, words)


def candidates_of(spec: FieldSpec, *pages: Page) -> list[Candidate]:
    """Every candidate for `spec` in a document of `pages`, the rules' choice marked."""
    lines = [group_lines(page.words) for page in pages]
    return field_candidates(spec, lines, find_field(spec, lines))


def _candidates(spec: FieldSpec, page: Page) -> dict[str, Candidate]:
    return {c.found.text: c for c in candidates_of(spec, page)}


def test_amounts_know_their_arithmetic() -> None:
    page = _page([(0.1, 0.6, "Net 100.00"), (0.1, 0.65, "VAT 20.00"), (0.1, 0.7, "Due 120.00")])
    found = _candidates(FieldSpec("total", "amount", labels=("total",)), page)
    total, net, tax = found["120.00"].features, found["100.00"].features, found["20.00"].features
    assert (total["is_sum"], total["largest"], total["is_part"]) == (1.0, 1.0, 0.0)
    assert (net["is_part"], net["larger_part"], net["is_sum"]) == (1.0, 1.0, 0.0)
    assert (tax["is_part"], tax["larger_part"], tax["amount_rank"]) == (1.0, 0.0, 0.4)


def test_dates_know_their_order_and_keys_their_place() -> None:
    page = _page([(0.1, 0.1, "Date: 03.02.2024"), (0.1, 0.2, "Pay by"), (0.1, 0.23, "04.03.2024")])
    found = _candidates(FieldSpec("due_date", "date", labels=("pay by",)), page)
    issued, due = found["03.02.2024"].features, found["04.03.2024"].features
    assert (issued["earliest"], issued["latest"], issued.get("has_key", 0.0)) == (1.0, 0.0, 0.0)
    assert (due["latest"], due["has_key"], due["key_below"]) == (1.0, 1.0, 1.0)


def test_ids_come_from_title_lines_and_number_words_not_codes_or_dates() -> None:
    page = _page(
        [
            (0.1, 0.1, "Handelsrechnung (380) Nr. 471102 vom 05.06.2018"),
            (0.1, 0.3, "Kunden Nr. K-77 Betrag 12,50"),
            (0.1, 0.5, "No. A12, Ref 7"),  # three characters are enough, the comma goes
            (0.1, 0.7, "427 items, order No."),  # a line's end does not precede its start
        ]
    )
    found = _candidates(FieldSpec("invoice_number", "id"), page)
    assert set(found) == {"471102", "K-77", "A12"}
    assert found["A12"].features["number_word"] == 1
    assert found["471102"].features["title_line"] == found["471102"].features["number_word"] == 1
    assert found["K-77"].features.get("title_line", 0.0) == 0.0


def test_names_wrapped_over_two_lines_under_their_party_s_label() -> None:
    page = _page(
        [
            (0.1, 0.1, "Rechnungsempfänger:"),
            (0.1, 0.12, "Herrn"),
            (0.1, 0.14, "Max Mustermann"),
            (0.6, 0.1, "Verkäufer:"),
            (0.6, 0.12, "Lieferant GmbH"),
        ]
    )
    found = _candidates(FieldSpec("customer", labels=("rechnungsempfänger",)), page)
    person, seller = found["Herrn Max Mustermann"].features, found["Lieferant GmbH"].features
    assert (person["two_lines"], person["salutation"], person["under_label"]) == (1.0, 1.0, 1.0)
    assert found["Herrn"].features["salutation_only"] == 1.0
    assert (seller["under_other_label"], seller.get("under_label", 0.0)) == (1.0, 0.0)


def test_a_letterhead_s_name_and_names_after_their_form_labels() -> None:
    page = _page(
        [
            (0.1, 0.05, "Muster Handel GmbH - Hauptstr. 1 - 12345 Berlin"),
            (0.1, 0.2, "Verkäufer"),
            (0.1, 0.23, "Firmierung laut Handelsregister: Lieferant AG"),
            (0.1, 0.26, "Company name: Muster KG"),
        ]
    )
    found = _candidates(FieldSpec("vendor", labels=("verkäufer",)), page)
    assert found["Muster Handel GmbH"].features["letterhead_part"] == 1.0
    whole_line = found["Muster Handel GmbH - Hauptstr. 1 - 12345 Berlin"].features
    assert whole_line.get("letterhead_part", 0.0) == 0.0
    # a long label pushes its value right, out from under the block's heading, not its line
    registered, named = found["Lieferant AG"].features, found["Muster KG"].features
    assert (registered["under_label"], registered.get("name_label", 0.0)) == (1.0, 0.0)
    assert (named["under_label"], named["name_label"]) == (1.0, 1.0)


def test_addresses_are_every_run_of_header_lines_with_what_tells_them_apart() -> None:
    page = _page(
        [
            (0.1, 0.05, "TEA HOUSE SDN BHD"),
            (0.1, 0.08, "PARADIGM MALL"),
            (0.1, 0.11, "LOT 4F-27, 4TH FLOOR"),
            (0.1, 0.14, "47301 PETALING JAYA"),
            (0.1, 0.17, "TEL: 03-1234 5678"),
            (0.1, 0.2, "(123456-X)"),
        ]
    )
    found = _candidates(FieldSpec("address"), page)
    first = found["TEA HOUSE SDN BHD PARADIGM MALL"].features
    assert (first["company_suffix"], first.get("under_company", 0.0)) == (1.0, 0.0)
    mall = found["PARADIGM MALL LOT 4F-27, 4TH FLOOR 47301 PETALING JAYA"].features
    assert (mall["numberless_first"], mall["under_company"], mall["postcode_last"]) == (1, 1, 1)
    assert (mall["run_lines"], mall["header_order"]) == (0.6, 1 / 12)
    assert mall.get("contact_words", 0.0) == mall.get("postcode_inside", 0.0) == 0.0
    street = found["LOT 4F-27, 4TH FLOOR 47301 PETALING JAYA"].features
    assert (street["street_first"], street.get("under_company", 0.0)) == (1.0, 0.0)
    longer = found["LOT 4F-27, 4TH FLOOR 47301 PETALING JAYA TEL: 03-1234 5678"].features
    assert (longer["postcode_inside"], longer["contact_words"]) == (1.0, 1.0)
    assert "PARADIGM MALL" in found  # a single line is a run too
    assert "PARADIGM MALL LOT 4F-27, 4TH FLOOR 47301 PETALING JAYA" not in _candidates(
        FieldSpec("company"), page
    )  # runs are for addresses only


def _delivery_note(number: int) -> LabelledDocument:
    """A layout the rules read wrong: the printed-on date comes first, the date wanted sits
    mid-page with no key before it."""
    printed, delivered = f"2{number}.05.2024", f"1{number}.04.2024"
    page = _page([(0.7, 0.05, f"Printed {printed}"), (0.1, 0.5, f"Goods left us {delivered}")])
    spec = FieldSpec("delivery_date", "date")
    return LabelledDocument(
        f"note-{number}", f"family-{number % 3}", [page], [spec], {"delivery_date": delivered}
    )


def test_a_ranker_learns_a_layout_the_rules_read_wrong() -> None:
    sets = field_sets(_delivery_note(n) for n in range(6))
    assert all(one.rule >= 0 and not one.right[one.rule] for one in sets)  # rules: wrong
    ranker = fit_ranker(sets)
    new = _delivery_note(8)
    engine = ExtractiveEngine(ranker)
    [value] = engine.extract(new.pages, new.fields)
    lines = [group_lines(new.pages[0].words)]
    spec = new.fields[0]
    picked = ranker.pick(spec, field_candidates(spec, lines, find_field(spec, lines)))
    assert picked is not None and picked[1] > 0.5
    assert (value.text, value.confidence) == ("18.04.2024", picked[1])  # calibrated
    report = cross_validate(sets)
    score = report.fields["delivery_date"]
    assert (score.n, score.rules, score.ranker) == (6, 0, 6)


def _keyed_note(number: int, *, total: str) -> LabelledDocument:
    """A note the rules read right (a keyed date), with a total that may not be printed."""
    page = _page([(0.1, 0.1, f"Delivery date: 0{number}.03.2024"), (0.1, 0.3, "Total 12.00")])
    specs = [FieldSpec("delivery_date", "date"), FieldSpec("total", "amount")]
    gold = {"delivery_date": f"0{number}.03.2024", "total": total}
    return LabelledDocument(f"keyed-{number}", f"family-{number % 3}", [page], specs, gold)


def test_cross_validation_scores_rules_ranker_and_reach_per_field_and_document() -> None:
    notes = [_delivery_note(n) for n in range(6)]
    keyed = [_keyed_note(n, total="12.00" if n <= 3 else "99.00") for n in range(1, 7)]
    report = cross_validate(field_sets(notes + keyed))
    dates, totals = report.fields["delivery_date"], report.fields["total"]
    assert (dates.n, dates.rules, dates.reachable) == (12, 6, 12)
    assert (totals.n, totals.rules, totals.ranker, totals.reachable) == (6, 3, 3, 3)
    assert len(report.judged) == 18
    assert {name: report.documents[name] for name in ("keyed-1", "keyed-4")} == {
        "keyed-1": (True, True),  # both fields right
        "keyed-4": (False, False),  # its total is not on the page
    }
    assert report.documents["note-1"][0] is False  # the rules read the print date


def test_calibration_maps_probability_to_the_rate_found_right() -> None:
    calibration = Calibration((0.2, 0.5, 0.9), (0.0, 0.5, 1.0))
    assert [calibration(p) for p in (0.0, 0.35, 0.9, 1.0)] == pytest.approx([0, 0.25, 1, 1])
    assert Calibration((), ())(0.42) == 0.42


def test_a_saved_ranker_is_named_by_its_content(tmp_path: Path) -> None:
    ranker = fit_ranker(field_sets(_delivery_note(n) for n in range(6)))
    path = tmp_path / "new" / "folder" / "ranker.json"
    saved = save_ranker(ranker, path)
    assert save_ranker(ranker, path) == saved  # again, over it: the same file, the same name
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n "')  # one-space indents: small diffs when retrained
    numbers = [
        value
        for model in json.loads(text)["models"].values()
        for value in (model["intercept"], *model["coef"], *model["mean"], *model["scale"])
    ]
    assert all(value == round(value, 6) for value in numbers)  # six places
    assert any(value != round(value, 5) for value in numbers)
    loaded = load_ranker(path)
    assert saved.version == loaded.version and len(loaded.version) == 12
    assert loaded.to_json() == ranker.to_json()
    assert ExtractiveEngine(loaded).model_revision == f"rules-3+ranker.{loaded.version}"
    data = json.loads(text)
    data["models"]["delivery_date"]["intercept"] += 1
    (tmp_path / "other.json").write_text(json.dumps(data))
    assert load_ranker(tmp_path / "other.json").version != loaded.version


def test_a_ranker_for_other_features_or_no_ranker_is_refused_by_name(tmp_path: Path) -> None:
    data = json.loads(BUILTIN_RANKER.read_text())
    data["features"] = data["features"][:-1]
    (tmp_path / "old.json").write_text(json.dumps(data))
    with pytest.raises(RankerError, match="old.json: written for other candidate features"):
        load_ranker(tmp_path / "old.json")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(RankerError, match="broken.json: not a readable"):
        load_ranker(tmp_path / "broken.json")


def test_a_field_needs_three_documents_with_its_value_among_the_candidates() -> None:
    """Weights for a field (and its type) once three training documents had its value among
    their candidates; a field with fewer (here one arrival date) is left to the rules, and
    the fields after it in order are still trained."""
    notes = [_delivery_note(n) for n in range(3)]
    arrival = FieldSpec("arrival_date", "date")
    notes[0] = dataclasses.replace(
        notes[0],
        fields=[arrival, *notes[0].fields],
        gold=notes[0].gold | {arrival.name: "2024-04-10"},
    )
    assert sorted(fit_ranker(field_sets(notes)).models) == ["delivery_date", "type:date"]
    assert fit_ranker(field_sets(_delivery_note(n) for n in range(2))).models == {}


def _printed_note(number: int) -> LabelledDocument:
    """A note whose only date is the one it was printed on, the field wanted."""
    printed = f"2{number}.05.2024"
    spec = FieldSpec("printed_date", "date")
    page = _page([(0.7, 0.05, f"Printed {printed}")])
    return LabelledDocument(f"printed-{number}", f"printed-{number}", [page], [spec],
                            {"printed_date": printed})  # fmt: skip


def test_a_field_whose_examples_tell_no_candidates_apart_follows_its_rules() -> None:
    """Notes that print one date teach nothing about choosing between dates: the field
    follows its rules (the first date) rather than its type's weights, which the delivery
    notes taught to pass over the first date; and it is as sure as its rules were right."""
    ranker = fit_ranker(
        field_sets([*(_delivery_note(n) for n in range(6)), *(_printed_note(n) for n in range(5))])
    )
    page = _delivery_note(8).pages[0]
    picks = {
        name: ranker.pick(spec, candidates_of(spec, page))
        for name, spec in [(name, FieldSpec(name, "date")) for name in ("printed_date", "other")]
    }
    assert {name: pick and pick[0].found.text for name, pick in picks.items()} == {
        "printed_date": "28.05.2024",
        "other": "18.04.2024",  # a field never trained takes its type's weights
    }
    model = ranker.models["printed_date"]
    rules_right = 6 / 7  # five of five, smoothed
    assert model.probabilities(np.eye(len(model.coef))[:1])[0] == pytest.approx(rules_right)


def test_held_out_picks_without_candidates_or_weights() -> None:
    """Scored by groups held out (two groups are enough): a document printing no date is
    wrong at confidence 0; a field without weights keeps the rules' pick at 0.5."""
    notes = [_delivery_note(n) for n in range(4)]
    undated = LabelledDocument(
        "blank", "family-9", [_page([(0.1, 0.1, "No dates here")])], notes[0].fields,
        {"delivery_date": "2024-04-10"},
    )  # fmt: skip
    report = cross_validate(field_sets([*notes, undated]))
    assert report.fields["delivery_date"].n == 5 and (0.0, False) in report.judged
    two = cross_validate(field_sets(notes[:2]))  # one group each: nothing to learn from
    assert (two.fields["delivery_date"].n, two.judged) == (2, [(0.5, False), (0.5, False)])


def test_calibration_maps_each_probability_to_the_rate_of_its_values_found_right() -> None:
    """With values at two probabilities, Platt scaling's two parameters fit both rates: an
    overconfident 0.9 (half right) maps to 0.5, a 0.1 right once in four to 0.25; between
    and beyond them the map rises smoothly."""
    judged = [(0.9, True), (0.9, False)] * 4 + [(0.1, True)] + [(0.1, False)] * 3
    calibration = _platt(judged)
    assert calibration.points[:3] == (0.0, 0.01, 0.02) and len(calibration.points) == 101
    assert calibration(0.9) == pytest.approx(0.5, abs=1e-4)
    assert calibration(0.1) == pytest.approx(0.25, abs=1e-4)
    assert np.all(np.diff(calibration.rates) > 0)
    assert 0.0 < calibration(0.0) < 0.25 and 0.5 < calibration(1.0) < 1.0


@pytest.mark.parametrize("right", [True, False])
def test_values_all_right_or_all_wrong_leave_the_probabilities_as_they_are(right: bool) -> None:
    assert _platt([(0.3, right), (0.8, right)]) == Calibration((), ())
    assert _platt([]) == Calibration((), ())


def test_candidate_sets_round_trip(tmp_path: Path) -> None:
    """Sets keep what they were made from (weight, whether scored, a page with no candidate
    at all), in float32 and booleans on disk; sets saved for other features are refused,
    naming the file."""
    notes = [_delivery_note(n) for n in range(4)]
    notes[1] = dataclasses.replace(notes[1], weight=3.0, scored=False)
    notes[3] = dataclasses.replace(notes[3], pages=[_page([(0.1, 0.1, "Goods left us")])])
    sets = field_sets(notes)
    assert [(s.weight, s.scored, len(s.right)) for s in sets] == [
        (1.0, True, 2), (3.0, False, 2), (1.0, True, 2), (1.0, True, 0)
    ]  # fmt: skip
    save_sets(sets, tmp_path / "sets.npz")
    loaded = load_sets(tmp_path / "sets.npz")
    assert [(s.document, s.group, s.name, s.rule, s.weight, s.scored) for s in loaded] == [
        (s.document, s.group, s.name, s.rule, s.weight, s.scored) for s in sets
    ]
    for old, new in zip(loaded, sets, strict=True):
        assert np.array_equal(old.vectors, new.vectors) and np.array_equal(old.right, new.right)
    with np.load(tmp_path / "sets.npz") as saved:
        assert (saved["vectors"].dtype, saved["right"].dtype) == (np.float32, bool)
        older = {name: saved[name] for name in saved.files}
    meta = json.loads(str(older["meta"]))
    older["meta"] = np.asarray(json.dumps(meta | {"features": meta["features"][:-1]}))
    np.savez_compressed(tmp_path / "older.npz", **older)
    with pytest.raises(ValueError, match=r"older.npz: candidate sets of other features; rebuild"):
        load_sets(tmp_path / "older.npz")


def test_training_is_reproducible_to_the_last_weight() -> None:
    """Every twentieth shipped set (eighty of them) trains to the same ranker, its
    weights, scaling and calibration alike: the fast stand-in for refitting them all.
    A deliberate change to training updates this digest along with `make ranker`."""
    sets = load_sets(BUILTIN_SETS)[::20][:80]
    trained = hashlib.sha256(fit_ranker(sets).to_json().encode()).hexdigest()
    assert trained == "799f99f922d0a4dd12d0c1f03169754e46231eab67a0b22d34862e57dc166a91"


@pytest.mark.slow
def test_the_shipped_ranker_is_what_its_shipped_sets_train() -> None:
    """`make ranker` is reproducible: refitting the shipped sets gives the shipped file."""
    refitted = fit_ranker(load_sets(BUILTIN_SETS))
    assert refitted.to_json() + "\n" == BUILTIN_RANKER.read_text()


def test_the_shipped_sets_hold_what_the_candidates_compute_today() -> None:
    """A change to the candidates' features or to the synthetic invoices without `make
    ranker` would leave the engine ranking by weights learnt on other features."""
    built = field_sets(synthetic_invoices(8))
    names = {one.document for one in built}
    shipped = [one for one in load_sets(BUILTIN_SETS) if one.document in names]
    assert [(s.document, s.name, s.rule, s.weight) for s in shipped] == [
        (s.document, s.name, s.rule, s.weight) for s in built
    ], "stale shipped sets: run `make ranker`"
    for old, new in zip(shipped, built, strict=True):
        assert np.array_equal(old.right, new.right), (new.document, new.name)
        assert np.array_equal(old.vectors, new.vectors.astype(np.float32).astype(float)), (
            f"{new.document} {new.name}: features changed, run `make ranker`"
        )


def _digest(documents: list[LabelledDocument]) -> str:
    """sha256 of documents' names, families, fields, gold values, pages (their index and
    size), words and boxes."""
    content = [
        (d.name, d.group, d.gold, d.weight, d.scored, [(f.name, f.type) for f in d.fields])
        + tuple(
            (p.index, p.width, p.height, p.dpi, [(w.text, *astuple(w.box)) for w in p.words])
            for p in d.pages
        )  # fmt: skip
        for d in documents
    ]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def test_the_synthetic_invoices_are_those_the_shipped_sets_were_built_from() -> None:
    """Seeded, word for word and box for box. A change to the generator needs `make ranker`
    (the shipped sets hold its invoices) and this digest of its first sixty updated: enough
    for every language and every layout choice to come up."""
    built = _digest(list(synthetic_invoices(60)))
    shipped = "a9e67f50083de7e5a6f1cae93fcfe21048106da7052c78ddc5b1eafbd2212a8e"
    assert built == shipped, "the synthetic invoices changed: run `make ranker`"


@pytest.mark.slow
def test_synthetic_invoices_teach_but_are_never_scored() -> None:
    documents = list(synthetic_invoices(20, seed=3))
    assert [d.gold for d in documents] == [d.gold for d in synthetic_invoices(20, seed=3)]
    for document in documents:
        gold = document.gold
        assert Decimal(gold["subtotal"]) + Decimal(gold["tax"]) == Decimal(gold["total"])
    assert len({d.gold["vendor"] for d in documents}) > 10  # varied, not one template
    sets = field_sets(documents)
    assert sum(bool(one.right.any()) for one in sets) / len(sets) > 0.9  # values are on the page
    assert cross_validate(sets).fields == {}  # training data only
