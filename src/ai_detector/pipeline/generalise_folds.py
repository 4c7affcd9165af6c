"""The folds of the generalise stage: leave one origin out, leave CIFAKE classes out.

    from ai_detector.pipeline.generalise_folds import leave_one_source_out, leave_classes_out

Each fold fits a probe (the ``head`` recipe of ai_detector.train) on feature rows chosen
by a mask and scores other rows; the folds only decide which rows. A probe's score is
P(not real), so every figure is about telling real from fake, whatever the fake label.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ai_detector.pipeline.data.records import Record
from ai_detector.pipeline.head import fit_head
from ai_detector.pipeline.params import TrainParams

# P(not real) for the rows a mask selects.
Probe = Callable[[np.ndarray], np.ndarray]
# (rows to fit, rows to stop early on) -> a fitted probe.
ProbeFactory = Callable[[np.ndarray, np.ndarray], Probe]


def auc(is_fake: np.ndarray, score: np.ndarray) -> float | None:
    """ROC-AUC of the fake score; None when one class is missing."""
    is_fake = np.asarray(is_fake, bool)
    if not 0 < is_fake.sum() < len(is_fake):
        return None
    return float(roc_auc_score(is_fake, score))


def cifake_class(path: str) -> str:
    """CIFAKE's class of a file: the number in parentheses, ``1`` for ``N.jpg``."""
    found = re.search(r"\((\d+)\)", Path(path).name)
    return found.group(1) if found else "1"


def standardise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of the fitting rows, the spread floored as DetectorNet does."""
    std = rows.std(axis=0)
    return rows.mean(axis=0), np.maximum(std, 0.1 * float(np.median(std)) + 1e-6)


class LinearProbe:
    """A linear head over standardised features: the ``head`` recipe's model."""

    def __init__(self, mean: np.ndarray, std: np.ndarray, head: torch.nn.Linear, real: int):
        self.mean, self.std, self.head, self.real = mean, std, head, real

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(((raw - self.mean) / self.std).astype(np.float32))
        with torch.no_grad():
            return self.head(x).softmax(dim=1).numpy()

    def fake_score(self, raw: np.ndarray) -> np.ndarray:
        return 1.0 - self.probabilities(raw)[:, self.real]


def fit_probe(
    features: np.ndarray,
    y: np.ndarray,
    fit: np.ndarray,
    stop: np.ndarray,
    n_classes: int,
    real_index: int,
    params: TrainParams,
) -> LinearProbe:
    """A linear head fitted on rows ``fit`` (a mask or indices, repeats allowed),
    early-stopped on rows ``stop``."""
    mean, std = standardise(features[fit])
    x_fit = ((features[fit] - mean) / std).astype(np.float32)
    x_stop = ((features[stop] - mean) / std).astype(np.float32)
    head, _ = fit_head(x_fit, y[fit], x_stop, y[stop], n_classes, params)
    return LinearProbe(mean, std, head, real_index)


def _splits(records: Sequence[Record]) -> dict[str, np.ndarray]:
    return {s: np.array([r.split == s for r in records]) for s in ("train", "val", "test")}


def leave_one_source_out(
    records: Sequence[Record], y: np.ndarray, real_index: int, probe: ProbeFactory
) -> dict[str, dict[str, Any]]:
    """Per origin group: a probe trained without it, scored on all of it (plus, for a
    one-class group, the other class's test rows, which no fold trains on)."""
    split = _splits(records)
    origins = np.array([r.origin for r in records])
    is_fake = y != real_index
    results: dict[str, dict[str, Any]] = {}
    for group in sorted(set(origins)):
        held = origins == group
        scored = held.copy()
        if is_fake[held].all() or not is_fake[held].any():
            scored |= split["test"] & ~held & (is_fake != is_fake[held][0])
        score = probe(split["train"] & ~held, split["val"] & ~held)(scored)
        own = held[scored]
        results[group] = {
            "n": int(held.sum()),
            "n_against": int((~own).sum()),
            "roc_auc": auc(is_fake[scored], score),
            # Its own images called right by P(not real) >= 0.5.
            "accuracy": float(((score[own] >= 0.5) == is_fake[scored][own]).mean()),
        }
    return results


def leave_classes_out(
    records: Sequence[Record],
    y: np.ndarray,
    real_index: int,
    probe: ProbeFactory,
    cifake_source: str,
    holdout: Sequence[Sequence[str]],
) -> dict[str, dict[str, Any]]:
    """Per pair of CIFAKE classes: a probe trained on everything but those two classes
    (the other sources and CIFAKE's other classes), scored on them."""
    split = _splits(records)
    cifake = np.array([r.source == cifake_source for r in records])
    classes = np.array([cifake_class(r.path) if r.source == cifake_source else "" for r in records])
    is_fake = y != real_index
    results: dict[str, dict[str, Any]] = {}
    for pair in holdout:
        held = cifake & np.isin(classes, list(pair))
        if not held.any():
            continue
        score = probe(split["train"] & ~held, split["val"] & ~held)(held)
        results["+".join(pair)] = {
            "n": int(held.sum()),
            "accuracy": float(((score >= 0.5) == is_fake[held]).mean()),
            "roc_auc": auc(is_fake[held], score),
        }
    return results
