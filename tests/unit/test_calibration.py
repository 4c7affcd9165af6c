"""The confidence calibration and the fake threshold, on cases whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from ai_detector.inference.decision import softmax
from ai_detector.pipeline.calibration import choose_threshold, fit_temperature

REAL = 0


def probabilities(fake_scores: list[float]) -> np.ndarray:
    """Two classes, Real first: P(not real) is the given score."""
    scores = np.array(fake_scores)
    return np.stack([1.0 - scores, scores], axis=1)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 3.0])
def test_the_temperature_that_made_the_labels_is_found(true_temperature):
    """Labels drawn from softmax(z); the model says z * T: the fit undoes the T."""
    rng = np.random.default_rng(0)
    honest = rng.normal(0, 2.0, (20_000, 3))
    labels = np.array([rng.choice(3, p=p) for p in softmax(honest)])
    fitted = fit_temperature(honest * true_temperature, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)


def test_balanced_policy_separates_a_separable_set():
    scores = [0.10, 0.20, 0.30, 0.60, 0.80, 0.90]
    labels = np.array([REAL, REAL, REAL, 1, 1, 1])
    threshold = choose_threshold(probabilities(scores), labels, REAL, "balanced", 0.97)
    assert threshold == pytest.approx(0.60)


def test_balanced_policy_maximises_balanced_accuracy_not_accuracy():
    # Nine reals and one fake at 0.4: plain accuracy would call everything real (0.9);
    # balanced accuracy needs the fake caught, at the cost of one real at 0.45.
    scores = [0.05] * 8 + [0.45, 0.40]
    labels = np.array([REAL] * 9 + [1])
    threshold = choose_threshold(probabilities(scores), labels, REAL, "balanced", 0.97)
    assert threshold == pytest.approx(0.40)


def test_balanced_policy_gives_up_a_lone_fake_rather_than_every_real():
    # Catching the fake at 0.05 would call every real fake (balanced accuracy 0.5);
    # 0.6 misses it and keeps every real (0.875).
    scores = [0.10, 0.20, 0.25, 0.35, 0.05, 0.60, 0.70, 0.80]
    labels = np.array([REAL] * 4 + [1] * 4)
    threshold = choose_threshold(probabilities(scores), labels, REAL, "balanced", 0.97)
    assert threshold == pytest.approx(0.60)


@pytest.mark.parametrize(("target", "expected"), [(0.75, 0.50), (0.5, 0.70), (1.0, 0.20)])
def test_recall_target_policy_takes_the_highest_threshold_that_reaches_the_recall(target, expected):
    scores = [0.05, 0.10, 0.60, 0.20, 0.50, 0.70, 0.90]
    labels = np.array([REAL, REAL, REAL, 1, 1, 1, 1])
    threshold = choose_threshold(probabilities(scores), labels, REAL, "recall_target", target)
    assert threshold == pytest.approx(expected)
    called = np.array(scores)[labels == 1] >= threshold
    assert called.mean() >= target


def test_one_class_only_keeps_the_neutral_threshold():
    assert (
        choose_threshold(probabilities([0.2, 0.9]), np.array([1, 1]), REAL, "balanced", 0.9) == 0.5
    )


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="unknown threshold policy 'strict'"):
        choose_threshold(probabilities([0.2, 0.9]), np.array([0, 1]), REAL, "strict", 0.9)
