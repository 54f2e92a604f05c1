"""Calibration scores, worked by hand."""

from __future__ import annotations

import pytest

from app.evaluation.calibration import accuracy_when_confident, expected_calibration_error


def test_expected_calibration_error_weights_each_bins_gap_by_its_size() -> None:
    judged = [(0.95, True), (0.95, True), (0.95, False), (0.95, True),  # bin 9: 0.75 vs 0.95
              (0.55, True), (0.55, False),  # bin 5: 0.5 vs 0.55
              (1.0, True), (0.05, False)]  # fmt: skip
    # bin 9 holds 0.95 x4 and 1.0: accuracy 4/5, confidence 0.96 -> 5/8 x 0.16 = 0.1
    # bin 5: 2/8 x 0.05 = 0.0125; bin 0: 1/8 x 0.05 = 0.00625
    assert expected_calibration_error(judged) == pytest.approx(0.1 + 0.0125 + 0.00625, abs=1e-4)
    assert expected_calibration_error([(0.8, True)] * 4 + [(0.8, False)]) == 0.0
    assert expected_calibration_error([]) is None


def test_accuracy_when_confident_counts_values_at_or_above_the_threshold() -> None:
    judged = [(0.9, True), (0.99, False), (0.89, True), (1.0, True)]
    assert accuracy_when_confident(judged) == (pytest.approx(2 / 3, abs=1e-4), 3)
    assert accuracy_when_confident([(0.5, True)]) == (None, 0)
