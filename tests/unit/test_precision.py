"""The Predictor runs the candidate this CPU's int8 kernels call for: the same in every process."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from ai_detector.inference.metadata import Candidate, ModelMetadata
from ai_detector.inference.precision import PRECISION_ENV, by_cpu, choose, cost_ms
from ai_detector.inference.predictor import Predictor
from ai_detector.inference.sessions import INT8_EXACT_ENV, int8_saturates
from tests.conftest import TINY_INPUT, write_tiny_onnx_model

FP32 = Candidate("fp32", "model_fp32.onnx")
INT8 = Candidate("int8", "model.onnx", passed=False)
CASCADE = Candidate("int8+fp32", "model.onnx", "model_fp32.onnx", 0.5, 0.25)
META = ModelMetadata(
    labels=("Real", "AI-generated"), version="t", candidates=(FP32, INT8, CASCADE), **TINY_INPUT
)


@pytest.fixture
def fresh_probe():
    """The probe's answer is cached per process: a test that forces it must not leak it."""
    int8_saturates.cache_clear()
    yield
    int8_saturates.cache_clear()


def test_a_cascade_costs_its_model_plus_its_share_of_the_fallback():
    assert cost_ms(CASCADE, {"model.onnx": 4.0, "model_fp32.onnx": 8.0}) == pytest.approx(6.0)


def test_exact_int8_kernels_run_int8_and_saturating_ones_fp32():
    assert by_cpu(META, int8_exact=True)[0] is CASCADE
    assert by_cpu(META, int8_exact=False)[0] is FP32


def test_a_candidate_that_failed_the_gate_never_runs():
    assert INT8 not in META.runnable
    assert by_cpu(META, int8_exact=True)[0] is not INT8


def test_of_the_int8_candidates_the_least_fallback_wins_then_the_exported_one():
    plain = Candidate("int8-b", "model.onnx")
    other = Candidate("int8-a", "model_b.onnx")
    meta = META.replace(candidates=(FP32, CASCADE, other, plain), precision="int8-b")
    assert by_cpu(meta, int8_exact=True)[0] is plain  # no fallback, and the exported one
    assert by_cpu(meta.replace(precision="fp32"), int8_exact=True)[0] is other  # by name


def test_without_an_fp32_candidate_int8_runs_even_on_saturating_kernels():
    meta = META.replace(candidates=(CASCADE,))
    chosen, reason = by_cpu(meta, int8_exact=False)
    assert chosen is CASCADE and "exact sums forced" in reason


def test_the_choice_depends_on_nothing_that_varies_between_processes(monkeypatch):
    """The old rule timed the files at load: two workers chose differently. Now the same
    metadata and the same probe answer give the same candidate, every time."""
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    for exact in (True, False):
        chosen = {choose(META, int8_exact=exact)[0].name for _ in range(20)}
        assert len(chosen) == 1


def test_the_choice_and_its_reason_are_logged(monkeypatch, caplog):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    with caplog.at_level(logging.INFO, logger="ai_detector.inference.precision"):
        choose(META, int8_exact=False)
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("precision fp32: ") and "no VNNI" in line


def test_a_forced_precision_wins_over_the_cpu(monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    assert choose(META, int8_exact=True)[0] is FP32


def test_an_unknown_precision_names_the_candidates():
    with pytest.raises(ValueError, match=r"int8\+fp32"):
        choose(META, int8_exact=True, precision="int4")


def test_metadata_keeps_candidates_and_refuses_a_directory_where_none_passed(tmp_path):
    META.save(tmp_path)
    loaded = ModelMetadata.load(tmp_path)
    assert loaded.candidates == META.candidates
    assert loaded.model_files == ("model.onnx", "model_fp32.onnx")
    with pytest.raises(ValueError, match="no candidate passed"):
        META.replace(candidates=(INT8,))
    with pytest.raises(ValueError, match="min_speedup"):
        META.replace(min_speedup=0.9)


@pytest.mark.parametrize("expected", ["fp32", "int8+fp32"])
def test_the_predictor_runs_the_candidate_its_cpu_calls_for(
    tmp_path, monkeypatch, expected, fresh_probe
):
    # INT8_EXACT_ENV=1 says the kernels saturate (exact sums forced): fp32 runs.
    monkeypatch.setenv(INT8_EXACT_ENV, "1" if expected == "fp32" else "0")
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    write_tiny_onnx_model(tmp_path, file="model_fp32.onnx")
    metadata = write_tiny_onnx_model(tmp_path, real_bias_shift=3.0)  # a drifted "int8"
    metadata.replace(candidates=(FP32, INT8, CASCADE)).save(tmp_path)
    batch = np.zeros((1, 3, 224, 224), np.float32)
    auto = Predictor(tmp_path, threads=1)
    assert auto.describe()["precision"] == auto.candidate.name == expected
    assert auto.describe()["candidates"] == ["fp32", "int8+fp32"]
    assert auto.describe()["precision_reason"]
    fp32 = Predictor(tmp_path, threads=1, precision="fp32")
    drifted = Predictor(tmp_path, threads=1, precision="int8")
    assert fp32.fallback is None and "asked for" in fp32.describe()["precision_reason"]
    # The two files really differ, and each forced candidate runs its own.
    assert fp32.logits(batch)[0, 0] == pytest.approx(drifted.logits(batch)[0, 0] - 3.0)
