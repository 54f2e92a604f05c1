"""Training the candidate ranker from labelled pages, and measuring it honestly.

A labelled document gives, for each field with a known value, the field's candidates
(pipeline.engines.candidates) and which of them spell that value. Weights are fitted per
field and per value type (scikit-learn's logistic regression); the calibration map is
fitted on out-of-fold probabilities: each group of documents (a layout family, a source)
is scored by weights that never saw it. `cross_validate` applies the same discipline one
level up: every figure it reports comes from documents whose whole group was held out of
both the weights and the calibration, beside what the rules alone achieve on them.

Candidate sets can be saved (numpy's npz, no pickles) so that retraining on a user's
corrections keeps what the development data taught.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.engines.base import FieldSpec
from pipeline.engines.candidates import FEATURES, Candidate, field_candidates, lines_day_first
from pipeline.engines.extractive import find_field
from pipeline.engines.ranker import Calibration, LinearModel, Ranker, type_kind
from pipeline.fields.normalize import same_value
from pipeline.layout import Line, group_lines
from pipeline.types import Page

BUILTIN_SETS = Path(__file__).with_name("extractor-sets.npz")
REGULARISATION = 0.5  # scikit-learn's C: few documents, so weights are kept small
MIN_RIGHT = 3  # a field needs this many right candidates in training to get weights
# Below this many sets with a right and a wrong candidate, a field follows its rules: one
# contrasting receipt cannot teach dozens of features which of two dates is the receipt's.
MIN_CONTRASTS = 3
RULE_MARGIN = 4.0  # logit by which a followed rule's choice outranks the other candidates
MIN_SCALE = 1e-3  # features lie in 0..1; a spread below this carries nothing to learn from
MAX_FOLDS = 10
CALIBRATION_POINTS = 101  # the calibration map is stored at 0, 0.01, ..., 1
LOGIT_CLIP = 1e-6  # a probability of 0 or 1 is taken as this close to it


@dataclass(frozen=True)
class LabelledDocument:
    """A document with known field values; `group` is its layout family or source, held out
    as a whole when measuring."""

    name: str
    group: str
    pages: Sequence[Page]
    fields: Sequence[FieldSpec]
    gold: dict[str, str]
    weight: float = 1.0
    scored: bool = True  # False: training data only, never counted when measuring


@dataclass(frozen=True)
class FieldSet:
    """One field of one document: its candidates' features, which are right, and which the
    rules chose (-1: none)."""

    document: str
    group: str
    name: str
    type: str
    vectors: np.ndarray
    right: np.ndarray
    rule: int
    weight: float = 1.0
    scored: bool = True

    @property
    def kinds(self) -> tuple[str, str]:
        return self.name, type_kind(self.type)


def field_sets(documents: Iterable[LabelledDocument]) -> list[FieldSet]:
    """The candidate sets of every labelled, single-valued field of `documents`."""
    sets = []
    for document in documents:
        lines: list[list[Line]] = [group_lines(page.words) for page in document.pages]
        day_first = lines_day_first(lines)
        for spec in document.fields:
            expected = document.gold.get(spec.name)
            if spec.repeated or expected is None:
                continue
            candidates = field_candidates(spec, lines, find_field(spec, lines))
            right = [
                same_value(
                    spec.type, c.found.text, expected, day_first=day_first, unsigned=spec.unsigned
                )
                for c in candidates
            ]
            rules = [i for i, c in enumerate(candidates) if c.features.get("rule_choice")]
            sets.append(
                FieldSet(
                    document.name,
                    document.group,
                    spec.name,
                    spec.type,
                    _features(candidates),
                    np.asarray(right, dtype=bool),
                    rules[0] if rules else -1,
                    document.weight,
                    document.scored,
                )
            )
    return sets


def _features(candidates: list[Candidate]) -> np.ndarray:
    """The candidates' feature vectors at the precision they are saved in (float32), so that
    weights fitted now equal those refitted from the saved sets."""
    vectors = np.asarray([c.vector() for c in candidates], dtype=np.float32)
    return vectors.reshape(len(candidates), len(FEATURES)).astype(float)


def fit_ranker(sets: Sequence[FieldSet]) -> Ranker:
    """Weights from all of `sets`, calibrated on the out-of-fold probabilities of the real
    (scored) ones: synthetic documents are easier than real pages and would teach
    overconfidence."""
    judged = [
        pair
        for train, held in _folds(sets)
        for pair in _picks(
            Ranker(_fit_models(train), Calibration((), ())), [one for one in held if one.scored]
        )
    ]
    return Ranker(_fit_models(sets), _platt(judged))


@dataclass
class FieldScore:
    """Held-out results for one field: how often the rules and the ranker were right, and
    how often any candidate was (the most a ranker could reach)."""

    n: int = 0
    rules: int = 0
    ranker: int = 0
    reachable: int = 0


@dataclass
class CrossValidation:
    fields: dict[str, FieldScore] = field(default_factory=dict)
    # per document, whether every field was right: by the rules, by the ranker
    documents: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    judged: list[tuple[float, bool]] = field(default_factory=list)  # (confidence, right)


def cross_validate(sets: Sequence[FieldSet]) -> CrossValidation:
    """Each group scored by a ranker (weights and calibration) trained without it; sets not
    `scored` (synthetic documents) only ever train."""
    report = CrossValidation()
    for train, held in _folds(sets):
        ranker = fit_ranker(train)
        scored = [one for one in held if one.scored]
        for one, (confidence, right) in zip(scored, _picks(ranker, scored), strict=True):
            score = report.fields.setdefault(one.name, FieldScore())
            by_rules = bool(one.rule >= 0 and one.right[one.rule])
            score.n += 1
            score.rules += by_rules
            score.ranker += right
            score.reachable += bool(one.right.any())
            report.judged.append((confidence, right))
            rules_all, ranker_all = report.documents.get(one.document, (True, True))
            report.documents[one.document] = (rules_all and by_rules, ranker_all and right)
    return report


def _picks(ranker: Ranker, sets: Sequence[FieldSet]) -> list[tuple[float, bool]]:
    """(confidence, right) of the ranker's choice in each set; the rules' choice where the
    ranker has no weights for the field, and (0, False) where there is no candidate."""
    picks = []
    for one in sets:
        model = ranker.model_for(one.name, one.type)
        if not len(one.right):
            picks.append((0.0, False))
        elif model is None:
            picks.append((0.5, bool(one.rule >= 0 and one.right[one.rule])))
        else:
            best, confidence = ranker.best(model, one.vectors)
            picks.append((confidence, bool(one.right[best])))
    return picks


def _fit_models(sets: Sequence[FieldSet]) -> dict[str, LinearModel]:
    from sklearn.linear_model import LogisticRegression

    models = {}
    for kind in sorted({kind for one in sets for kind in one.kinds}):
        members = [one for one in sets if kind in one.kinds and len(one.right)]
        if sum(int(one.right.any()) for one in members) < MIN_RIGHT:
            continue
        contrasts = sum(bool(one.right.any() and not one.right.all()) for one in members)
        if contrasts < MIN_CONTRASTS:
            models[kind] = _following_rules(members)
            continue
        vectors = np.vstack([one.vectors for one in members])
        right = np.concatenate([one.right for one in members])
        weights = np.concatenate([np.full(len(one.right), one.weight) for one in members])
        mean, scale = vectors.mean(axis=0), vectors.std(axis=0)
        scale[scale < MIN_SCALE] = 1.0  # a feature all but constant in training: left as is
        fitted = LogisticRegression(C=REGULARISATION, max_iter=2000)
        fitted.fit((vectors - mean) / scale, right, sample_weight=weights)
        models[kind] = LinearModel(mean, scale, fitted.coef_[0], float(fitted.intercept_[0]))
    return models


def _following_rules(members: Sequence[FieldSet]) -> LinearModel:
    """Weights that pick the rules' choice, at the (smoothed) share of training sets in
    which it was right: what a field's few examples can tell."""
    ruled = [one for one in members if one.rule >= 0]
    right = sum(one.weight for one in ruled if one.right[one.rule])
    rate = (right + 1.0) / (sum(one.weight for one in ruled) + 2.0)
    coef = np.asarray([RULE_MARGIN if name == "rule_choice" else 0.0 for name in FEATURES])
    flat = np.zeros(len(FEATURES))
    return LinearModel(flat, flat + 1.0, coef, float(np.log(rate / (1 - rate))) - RULE_MARGIN)


def _platt(judged: list[tuple[float, bool]]) -> Calibration:
    """Platt scaling: a logistic fit of right-or-wrong on the logit of the ranker's
    probability, stored as its rates at evenly spaced probabilities.

    Two parameters learn from a few hundred held-out values without learning their noise:
    an isotonic map fitted on the same values steps with every layout family (grouped
    cross-validation: ECE 0.124 against 0.096, docs/extractor.md).
    """
    from sklearn.linear_model import LogisticRegression

    probabilities, right = np.asarray(judged, dtype=float).reshape(-1, 2).T
    if len(set(right)) < 2:
        return Calibration((), ())  # all right or all wrong: nothing to scale by
    fitted = LogisticRegression(C=np.inf).fit(_logits(probabilities), right)
    grid = np.linspace(0.0, 1.0, CALIBRATION_POINTS)
    rates = fitted.predict_proba(_logits(grid))[:, 1]
    return Calibration(
        tuple(round(float(x), 6) for x in grid), tuple(round(float(y), 6) for y in rates)
    )


def _logits(probabilities: np.ndarray) -> np.ndarray:
    clipped = np.clip(probabilities, LOGIT_CLIP, 1 - LOGIT_CLIP)
    return np.log(clipped / (1 - clipped)).reshape(-1, 1)


def _folds(sets: Sequence[FieldSet]) -> list[tuple[list[FieldSet], list[FieldSet]]]:
    """Train/held-out splits that keep each group whole: one group out when there are few,
    else scikit-learn's GroupKFold."""
    from sklearn.model_selection import GroupKFold

    groups = [one.group for one in sets]
    if len(set(groups)) < 2:
        return []
    splits = min(MAX_FOLDS, len(set(groups)))
    folds = GroupKFold(n_splits=splits).split(np.zeros(len(sets)), groups=groups)
    return [([sets[i] for i in train], [sets[i] for i in held]) for train, held in folds]


def save_sets(sets: Sequence[FieldSet], path: Path) -> None:
    """Candidate sets as compressed numpy arrays and a JSON index (no pickles)."""
    meta = [
        [s.document, s.group, s.name, s.type, s.rule, s.weight, s.scored, len(s.right)]
        for s in sets
    ]
    np.savez_compressed(
        path,
        vectors=np.vstack([s.vectors for s in sets]).astype(np.float32),
        right=np.concatenate([s.right for s in sets]),
        meta=np.asarray(json.dumps({"features": list(FEATURES), "sets": meta})),
    )


def load_sets(path: Path) -> list[FieldSet]:
    """Sets saved by `save_sets`; those written for other features are refused."""
    with np.load(path) as saved:  # numpy refuses pickled arrays by default
        meta = json.loads(str(saved["meta"]))
        vectors, right = saved["vectors"].astype(float), saved["right"]
    if meta["features"] != list(FEATURES):
        raise ValueError(f"{path}: candidate sets of other features; rebuild them")
    sets, start = [], 0
    for document, group, name, value_type, rule, weight, scored, count in meta["sets"]:
        end = start + count
        sets.append(
            FieldSet(
                document,
                group,
                name,
                value_type,
                vectors[start:end],
                right[start:end],
                rule,
                weight,
                scored,
            )
        )
        start = end
    return sets
