"""Classification metrics on cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ai_detector.pipeline.metrics import classification_report, expected_calibration_error


def test_ece_of_an_overconfident_model():
    # Always 80% sure, right 6 times in 10: one bin, |0.6 - 0.8| = 0.2.
    probabilities = np.tile([0.8, 0.2], (10, 1))
    labels = np.array([0] * 6 + [1] * 4)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.2)


def test_ece_weighs_each_bin_by_its_share():
    # Four rows 90% sure and all right (gap 0.1), six rows 60% sure and half right
    # (gap 0.1): 0.4 * 0.1 + 0.6 * 0.1 = 0.1.
    probabilities = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 6)
    labels = np.array([0] * 4 + [0, 0, 0, 1, 1, 1])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.1)


def test_ece_of_a_calibrated_model_is_zero():
    probabilities = np.array([[0.75, 0.25]] * 4 + [[1.0, 0.0]] * 2)
    labels = np.array([0, 0, 0, 1, 0, 0])
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0)


def test_report_on_an_imbalanced_set():
    # Eight reals all right, two fakes of which one is missed.
    probabilities = np.array([[0.9, 0.1]] * 8 + [[0.2, 0.8], [0.7, 0.3]])
    labels = np.array([0] * 8 + [1, 1])
    predicted = probabilities.argmax(axis=1)
    report = classification_report(probabilities, predicted, labels, ("Real", "AI"), 0)
    assert report["accuracy"] == pytest.approx(0.9)
    assert report["balanced_accuracy"] == pytest.approx(0.75)
    assert report["per_class"]["AI"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
    }
    assert report["roc_auc_fake"] == pytest.approx(1.0)  # the scores still rank fakes first
