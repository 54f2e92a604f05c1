"""Does confidence mean probability? Scores over (confidence, right) pairs of field values.

A value given confidence 0.9 should be right about 9 times in 10. The expected calibration
error (ECE) is the gap between confidence and accuracy, averaged over equal-width bins of
confidence weighted by how many values fall in each; 0 is perfectly calibrated. Users act
on the confident values, so the share right among values at or above 0.9 is given too.
"""

from __future__ import annotations

from collections.abc import Sequence

Judged = tuple[float, bool]  # (confidence, right)
BINS = 10
CONFIDENT = 0.9


def expected_calibration_error(judged: Sequence[Judged], bins: int = BINS) -> float | None:
    """Σ over bins of (values in bin / all values) x |accuracy in bin - mean confidence in
    bin|; bin i holds confidences in [i/bins, (i+1)/bins), the last bin also 1.0."""
    if not judged:
        return None
    grouped: list[list[Judged]] = [[] for _ in range(bins)]
    for confidence, right in judged:
        grouped[min(int(confidence * bins), bins - 1)].append((confidence, right))
    error = 0.0
    for members in grouped:
        if members:
            accuracy = sum(right for _, right in members) / len(members)
            confidence = sum(c for c, _ in members) / len(members)
            error += len(members) / len(judged) * abs(accuracy - confidence)
    return round(error, 4)


def accuracy_when_confident(
    judged: Sequence[Judged], threshold: float = CONFIDENT
) -> tuple[float | None, int]:
    """The share right among values with confidence >= `threshold`, and how many there are."""
    confident = [right for confidence, right in judged if confidence >= threshold]
    if not confident:
        return None, 0
    return round(sum(confident) / len(confident), 4), len(confident)


def calibration_summary(judged: Sequence[Judged]) -> dict[str, float | int | None]:
    """What reports say of calibration: the ECE, the share right at >= 0.9 and their counts."""
    confident, count = accuracy_when_confident(judged)
    return {
        "ece": expected_calibration_error(judged),
        "accuracy_at_0_9": confident,
        "n_at_0_9": count,
        "n": len(judged),
    }
