"""The Predictor runs the fastest candidate that passed the parity gate, on this CPU."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ai_detector.inference.metadata import Candidate, ModelMetadata
from ai_detector.inference.precision import PRECISION_ENV, choose, cost_ms, pick
from ai_detector.inference.predictor import Predictor
from tests.conftest import write_tiny_onnx_model

FP32 = Candidate("fp32", "model_fp32.onnx")
INT8 = Candidate("int8", "model.onnx", passed=False)
CASCADE = Candidate("int8+fp32", "model.onnx", "model_fp32.onnx", 0.5, 0.25)
META = ModelMetadata(labels=("Real", "AI-generated"), version="t", candidates=(FP32, INT8, CASCADE))


def test_a_cascade_costs_its_model_plus_its_share_of_the_fallback():
    assert cost_ms(CASCADE, {"model.onnx": 4.0, "model_fp32.onnx": 8.0}) == pytest.approx(6.0)


@pytest.mark.parametrize(
    "int8_ms, fp32_ms, expected",
    [
        (4.0, 8.0, "int8+fp32"),  # a VNNI CPU: 6.0 ms against 8.0
        (9.0, 7.0, "fp32"),  # int8 with exact sums is slower (AVX2 only, or forced)
        (5.5, 7.0, "fp32"),  # 7.25 against 7.0
        (4.8, 7.0, "fp32"),  # 6.55 is faster, but not 1.1x: fp32 is the tie-break
    ],
)
def test_the_rule_picks_the_cheapest_and_prefers_fp32_within_the_speedup(
    int8_ms, fp32_ms, expected
):
    timings = {"model.onnx": int8_ms, "model_fp32.onnx": fp32_ms}
    assert pick(META.runnable, timings, META.min_speedup).name == expected


def test_a_candidate_that_failed_the_gate_never_runs_however_fast():
    assert INT8 not in META.runnable
    timings = {"model.onnx": 0.1, "model_fp32.onnx": 50.0}
    assert pick(META.runnable, timings, 1.1) is CASCADE


class SleepySession:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.calls = seconds, 0

    def get_inputs(self):
        return [type("Input", (), {"name": "input"})()]

    def run(self, names, feed):
        self.calls += 1
        time.sleep(self.seconds)
        return [np.zeros((1, 2), np.float32)]


def test_choose_times_each_file_on_this_machine(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    fast, slow = SleepySession(0.0005), SleepySession(0.01)
    loaded = {"model.onnx": fast, "model_fp32.onnx": slow}
    chosen, timings = choose(META, loaded.__getitem__, (1, 3, 8, 8))
    assert chosen is CASCADE
    assert timings["model.onnx"] < timings["model_fp32.onnx"]
    assert fast.calls == slow.calls > 5  # warm-up plus timed runs, interleaved
    loaded = {"model.onnx": SleepySession(0.01), "model_fp32.onnx": SleepySession(0.0005)}
    assert choose(META, loaded.__getitem__, (1, 3, 8, 8))[0] is FP32


def test_a_forced_precision_loads_and_times_nothing(monkeypatch):
    def refuse(name: str):
        raise AssertionError("nothing is timed when the precision is forced")

    monkeypatch.setenv(PRECISION_ENV, "fp32")
    assert choose(META, refuse, (1, 3, 8, 8)) == (FP32, {})


def test_an_unknown_precision_names_the_candidates():
    with pytest.raises(ValueError, match=r"int8\+fp32"):
        choose(META, lambda name: SleepySession(0), (1, 3, 8, 8), precision="int4")


def test_metadata_keeps_candidates_and_refuses_a_directory_where_none_passed(tmp_path):
    META.save(tmp_path)
    loaded = ModelMetadata.load(tmp_path)
    assert loaded.candidates == META.candidates
    assert loaded.model_files == ("model.onnx", "model_fp32.onnx")
    with pytest.raises(ValueError, match="no candidate passed"):
        META.replace(candidates=(INT8,))
    with pytest.raises(ValueError, match="min_speedup"):
        META.replace(min_speedup=0.9)


def test_the_predictor_runs_the_candidate_it_chose(tmp_path, monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    write_tiny_onnx_model(tmp_path, file="model_fp32.onnx")
    metadata = write_tiny_onnx_model(tmp_path, real_bias_shift=3.0)  # a drifted "int8"
    metadata.replace(candidates=(FP32, INT8, CASCADE)).save(tmp_path)
    batch = np.zeros((1, 3, 224, 224), np.float32)
    auto = Predictor(tmp_path, threads=1)
    assert auto.describe()["precision"] == auto.candidate.name
    assert auto.describe()["candidates"] == ["fp32", "int8+fp32"]
    fp32 = Predictor(tmp_path, threads=1, precision="fp32")
    drifted = Predictor(tmp_path, threads=1, precision="int8")
    assert fp32.fallback is None and fp32.describe()["model_ms_per_file"] == {}
    # The two files really differ, and each forced candidate runs its own.
    assert fp32.logits(batch)[0, 0] == pytest.approx(drifted.logits(batch)[0, 0] - 3.0)
