"""Classification metrics that tell the truth on imbalanced, multi-source data.

Accuracy alone flatters a model on a 3:1 set, so every report also carries balanced
accuracy, per-class precision/recall/F1, macro F1, log loss, ROC-AUC of the
real-vs-fake score, and the expected calibration error of the confidence.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = 15
) -> float:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(error)


def classification_report(
    probabilities: np.ndarray,
    predicted: np.ndarray,
    labels: np.ndarray,
    names: tuple[str, ...],
    real_index: int,
) -> dict[str, Any]:
    indices = list(range(len(names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0
    )
    fake_score = 1.0 - probabilities[:, real_index]
    is_fake = labels != real_index
    report: dict[str, Any] = {
        "n": len(labels),
        "accuracy": float(accuracy_score(labels, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predicted)),
        "macro_f1": float(
            f1_score(labels, predicted, labels=indices, average="macro", zero_division=0)
        ),
        "log_loss": float(log_loss(labels, probabilities, labels=indices)),
        "ece": expected_calibration_error(probabilities, labels),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
        },
    }
    report["roc_auc_fake"] = (
        float(roc_auc_score(is_fake, fake_score)) if 0 < is_fake.sum() < len(is_fake) else None
    )
    return report
