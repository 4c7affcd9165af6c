"""int8 first, fp32 for the images near a decision boundary.

    from ai_detector.inference.cascade import fit_margin, needs_fallback
    margin = fit_margin(fp32_logits_train, int8_logits_train, metadata)
    rerun_in_fp32 = needs_fallback(int8_logits, metadata, margin)

The Predictor runs the int8 model on every image and runs the fp32 model again only on
the images whose int8 verdict lies within ``fallback_margin`` of changing (metadata.json).
Away from the boundaries int8 rounding cannot change a verdict, so the cascade gives
fp32's decisions at about int8's cost. The export stage fits the margin on training
images and checks the cascade on the validation split with the same parity gate as a
plain int8 model (python -m ai_detector.pipeline.export).

Distances are in log-odds, not probabilities: int8 noise moves a logit by about the
same amount whatever the confidence, while the same shift in probability shrinks near
0 and 1. Training images, on which the model is confident, therefore still give a
margin that holds near the boundary.
"""

from __future__ import annotations

import numpy as np

from ai_detector.inference.metadata import ModelMetadata


def _statistics(logits: np.ndarray, metadata: ModelMetadata) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds of P(fake) and the temperature-scaled fake-label logits (N, labels - 1)."""
    scaled = logits.astype(np.float64) / metadata.temperature
    real = metadata.real_index
    fake = np.delete(scaled, real, axis=1)
    top = fake.max(axis=1, keepdims=True)
    fake_log_mass = top[:, 0] + np.log(np.exp(fake - top).sum(axis=1))
    return fake_log_mass - scaled[:, real], fake


def _threshold_log_odds(metadata: ModelMetadata) -> float:
    t = metadata.fake_threshold
    return float(np.log(t / (1.0 - t)))


def boundary_distance(logits: np.ndarray, metadata: ModelMetadata) -> np.ndarray:
    """Per row, how far the verdict is from changing: the distance of log-odds(P(fake))
    from the threshold's and, for rows called fake, the gap between the two most
    probable fake labels (which of them is named)."""
    log_odds, fake = _statistics(logits, metadata)
    distance = np.abs(log_odds - _threshold_log_odds(metadata))
    if fake.shape[1] >= 2:
        ordered = np.sort(fake, axis=1)
        gap = ordered[:, -1] - ordered[:, -2]
        called_fake = log_odds >= _threshold_log_odds(metadata)
        distance = np.where(called_fake, np.minimum(distance, gap), distance)
    return distance


def verdict_shift(
    reference: np.ndarray, candidate: np.ndarray, metadata: ModelMetadata
) -> np.ndarray:
    """Per row, how far ``candidate`` moved the two statistics ``boundary_distance`` reads:
    log-odds(P(fake)) and the gap between the reference's two most probable fake labels."""
    ref_odds, ref_fake = _statistics(reference, metadata)
    cand_odds, cand_fake = _statistics(candidate, metadata)
    shift = np.abs(cand_odds - ref_odds)
    if ref_fake.shape[1] >= 2:
        rows = np.arange(len(reference))
        order = np.argsort(ref_fake, axis=1)
        first, second = order[:, -1], order[:, -2]
        ref_gap = ref_fake[rows, first] - ref_fake[rows, second]
        cand_gap = cand_fake[rows, first] - cand_fake[rows, second]
        shift = np.maximum(shift, np.abs(cand_gap - ref_gap))
    return shift


def fit_margin(reference: np.ndarray, candidate: np.ndarray, metadata: ModelMetadata) -> float:
    """The largest verdict shift seen on these images: a row farther than this from a
    boundary keeps its verdict for every image here."""
    if not len(reference):
        raise ValueError("fit_margin needs at least one image")
    return float(verdict_shift(reference, candidate, metadata).max())


def needs_fallback(logits: np.ndarray, metadata: ModelMetadata, margin: float) -> np.ndarray:
    """Rows whose verdict from ``logits`` could change within ``margin``."""
    return boundary_distance(logits, metadata) <= margin
