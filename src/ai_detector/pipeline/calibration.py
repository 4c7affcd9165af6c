"""Fit the confidence calibration and the decision threshold on validation data.

Temperature scaling (Guo et al. 2017) makes ``confidence`` mean what it says; the
fake threshold trades recall of fakes against false alarms on real photos, by the
policy in params.yaml. Both are stored in the model metadata.
"""

from __future__ import annotations

import numpy as np

from ai_detector.inference.predictor import softmax


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    probs = softmax(logits, temperature)
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in [0.05, 20] with the lowest validation log loss."""
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 400))
    losses = [nll(logits, labels, t) for t in grid]
    return float(grid[int(np.argmin(losses))])


def choose_threshold(
    probabilities: np.ndarray,
    labels: np.ndarray,
    real_index: int,
    policy: str,
    recall_target: float,
) -> float:
    """Threshold on P(not real): best balanced accuracy, or the highest reaching the recall."""
    fake_score = 1.0 - probabilities[:, real_index]
    is_fake = labels != real_index
    if is_fake.all() or not is_fake.any():
        return 0.5
    candidates = np.unique(np.clip(fake_score, 0.01, 0.99))
    best, best_value = 0.5, -1.0
    for threshold in candidates:
        called = fake_score >= threshold
        recall = called[is_fake].mean()
        specificity = (~called[~is_fake]).mean()
        if policy == "recall_target":
            if recall >= recall_target and threshold > best_value:
                best, best_value = float(threshold), float(threshold)
        elif policy == "balanced":
            value = (recall + specificity) / 2
            # Among equals prefer the threshold closest to 0.5, the least surprising one.
            if value > best_value + 1e-9 or (
                abs(value - best_value) <= 1e-9 and abs(threshold - 0.5) < abs(best - 0.5)
            ):
                best, best_value = float(threshold), float(value)
        else:
            raise ValueError(f"unknown threshold policy {policy!r}")
    if best_value < 0:  # the recall target cannot be reached: call everything doubtful fake
        return float(max(0.01, candidates.min()))
    return best
