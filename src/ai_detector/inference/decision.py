"""Logits -> probabilities -> label: the decision rule, with numpy alone.

The Predictor applies it to every answer; the pipeline fits its temperature and
threshold (:mod:`ai_detector.pipeline.calibration`) and gates candidates with it
(:mod:`ai_detector.pipeline.promote`), importing this light module rather than the
Predictor and onnxruntime.

    from ai_detector.inference.decision import decide, softmax
    labels = decide(softmax(logits, metadata.temperature), metadata)
"""

from __future__ import annotations

import numpy as np

from ai_detector.inference.metadata import ModelMetadata


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits.astype(np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def decide(probabilities: np.ndarray, metadata: ModelMetadata) -> np.ndarray:
    """Label index per row: a fake label once P(not real) reaches the threshold."""
    real = metadata.real_index
    fake_mass = 1.0 - probabilities[:, real]
    masked = probabilities.copy()
    masked[:, real] = -1.0
    return np.where(fake_mass >= metadata.fake_threshold, masked.argmax(axis=1), real)
