"""The int8 -> fp32 cascade: distances to the boundaries, the margin, and the Predictor's
fallback keeping the reference model's verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from ai_detector.inference.cascade import (
    boundary_distance,
    fit_margin,
    needs_fallback,
    verdict_shift,
)
from ai_detector.inference.metadata import ModelMetadata
from ai_detector.inference.predictor import Predictor, decide, softmax
from tests.conftest import TINY_LABELS, write_tiny_onnx_model

META = ModelMetadata(labels=TINY_LABELS, version="t", fake_threshold=0.4, temperature=1.5)


def _verdicts(logits: np.ndarray, metadata: ModelMetadata = META) -> np.ndarray:
    return decide(softmax(logits, metadata.temperature), metadata)


def _cascade(candidate: np.ndarray, reference: np.ndarray, margin: float):
    """What the Predictor's cascade answers, from both models' logits."""
    fallback = needs_fallback(candidate, META, margin)
    return np.where(fallback[:, None], reference, candidate), fallback


def _logits_at_fake_log_odds(log_odds: float, gap: float = 3.0) -> np.ndarray:
    """One row whose log-odds(P(fake)) is ``log_odds``, AI-generated ahead by ``gap``."""
    t = META.temperature
    fake = np.array([gap, 0.0])
    fake_log_mass = np.log(np.exp(fake).sum())
    return np.array([[(fake_log_mass - log_odds) * t, fake[0] * t, fake[1] * t]])


def test_distance_is_zero_on_the_threshold_and_grows_away_from_it():
    threshold = np.log(0.4 / 0.6)
    distances = [
        boundary_distance(_logits_at_fake_log_odds(threshold + d), META)[0]
        for d in (0.0, 0.5, -0.5, 2.0)
    ]
    assert distances == pytest.approx([0.0, 0.5, 0.5, 2.0])
    # Exactly on the threshold the verdict flips between Real and fake.
    near = _logits_at_fake_log_odds(threshold)
    nudge = np.array([[1e-6, 0.0, 0.0]])
    assert _verdicts(near + nudge)[0] != _verdicts(near - nudge)[0]


def test_a_fake_verdict_is_also_near_a_boundary_when_the_fake_labels_tie():
    clearly_fake = _logits_at_fake_log_odds(4.0, gap=0.1)
    assert boundary_distance(clearly_fake, META)[0] == pytest.approx(0.1)
    # Called Real: which fake label leads does not matter.
    clearly_real = _logits_at_fake_log_odds(-4.0, gap=0.1)
    assert boundary_distance(clearly_real, META)[0] > 3.0


def test_verdict_shift_reads_both_statistics():
    reference = np.random.default_rng(0).normal(0, 2, (50, 3))
    assert verdict_shift(reference, reference, META) == pytest.approx(np.zeros(50))
    moved_real = reference + np.array([0.6, 0.0, 0.0])
    assert verdict_shift(reference, moved_real, META) == pytest.approx(np.full(50, 0.4))
    moved_deepfake = reference + np.array([0.0, 0.0, 0.9])
    assert verdict_shift(reference, moved_deepfake, META).max() == pytest.approx(0.6)


@pytest.mark.parametrize("seed", range(5))
def test_the_cascade_keeps_every_reference_verdict_it_was_fitted_on(seed):
    rng = np.random.default_rng(seed)
    reference = rng.normal(0, 2.5, (2000, 3))
    candidate = reference + rng.normal(0, 0.3, reference.shape)
    assert (_verdicts(candidate) != _verdicts(reference)).sum() > 10  # the noise flips some
    margin = fit_margin(reference, candidate, META)
    cascaded, fallback = _cascade(candidate, reference, margin)
    assert (_verdicts(cascaded) == _verdicts(reference)).all()
    assert 0.0 < fallback.mean() < 0.6  # most rows are still answered by the candidate
    # A margin too small to cover the noise lets flips through.
    cascaded, _ = _cascade(candidate, reference, margin / 10)
    assert (_verdicts(cascaded) != _verdicts(reference)).any()


def test_fit_margin_needs_images():
    with pytest.raises(ValueError, match="at least one image"):
        fit_margin(np.zeros((0, 3)), np.zeros((0, 3)), META)


def test_negative_margins_are_rejected():
    with pytest.raises(ValueError, match="fallback_margin"):
        META.replace(fallback_margin=-0.1)


def _red_ramp(count: int = 41) -> np.ndarray:
    """Preprocessed flat images whose red mean runs from -0.2 to 0.8: the tiny model's
    AI-generated logit sweeps through the threshold."""
    batch = np.zeros((count, 3, 224, 224), np.float32)
    batch[:, 0] = np.linspace(-0.2, 0.8, count)[:, None, None]
    return batch


def test_the_predictor_runs_the_fallback_only_near_the_boundary(tmp_path):
    model_dir = tmp_path / "cascade"
    write_tiny_onnx_model(model_dir, file="model_fp32.onnx")
    metadata = write_tiny_onnx_model(model_dir, real_bias_shift=0.8)
    reference = Predictor(model_dir, threads=1).logits(_red_ramp())  # no fallback yet
    metadata.replace(fallback_model_file="model_fp32.onnx", fallback_margin=0.8).save(model_dir)
    cascade = Predictor(model_dir, threads=1)
    assert cascade.metadata.model_files == ("model.onnx", "model_fp32.onnx")
    fp32 = Predictor(model_dir, threads=1)
    fp32.session = fp32.fallback  # the reference model alone
    fp32.fallback = None
    batch = _red_ramp()
    expected = fp32.logits(batch)
    got = cascade.logits(batch)
    near = needs_fallback(reference, cascade.metadata, 0.8)
    assert 0 < near.sum() < len(batch)
    np.testing.assert_allclose(got[near], expected[near], rtol=1e-6)
    np.testing.assert_allclose(got[~near], reference[~near], rtol=1e-6)
    assert (_verdicts(got, metadata) == _verdicts(expected, metadata)).all()
    assert (_verdicts(reference, metadata) != _verdicts(expected, metadata)).any()


def test_a_missing_fallback_file_is_named(tmp_path):
    metadata = write_tiny_onnx_model(tmp_path)
    metadata.replace(fallback_model_file="model_fp32.onnx").save(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"lacks model_fp32\.onnx"):
        Predictor(tmp_path, threads=1)
