"""int8 sessions are exact on every x86 CPU, and plain (fast) wherever the probe allows it."""

from __future__ import annotations

import numpy as np
import pytest

from ai_detector.inference import sessions
from ai_detector.inference.sessions import (
    EXACT_ENTRY,
    INT8_EXACT_ENV,
    PROBE_CHANNELS,
    int8_saturates,
    onnx_session,
    probe_model,
)


@pytest.fixture(autouse=True)
def fresh_decision(monkeypatch):
    """Each test decides again (the decision is cached once per process)."""
    monkeypatch.delenv(INT8_EXACT_ENV, raising=False)
    int8_saturates.cache_clear()
    yield
    int8_saturates.cache_clear()


def _entry(session) -> str | None:
    try:
        return session.get_session_options().get_session_config_entry(EXACT_ENTRY)
    except Exception:  # onnxruntime raises when the key was never set
        return None


def _probe_file(tmp_path):
    path = tmp_path / "probe.onnx"
    path.write_bytes(probe_model())
    return path


def test_the_exact_session_sums_the_probe_exactly_on_this_cpu():
    np.testing.assert_allclose(sessions.probe_output(exact=True), float(PROBE_CHANNELS))


def test_sessions_are_exact_on_this_cpu_whatever_the_probe_decided(tmp_path):
    session = onnx_session(_probe_file(tmp_path), threads=1)
    ones = np.ones((1, PROBE_CHANNELS, 4, 4), np.float32)
    (output,) = session.run(None, {"input": ones})
    np.testing.assert_allclose(output, float(PROBE_CHANNELS))
    # The decision matches what this CPU's plain kernels really do.
    plain_is_exact = np.allclose(sessions.probe_output(exact=False), float(PROBE_CHANNELS))
    assert int8_saturates() is (not plain_is_exact)
    assert (_entry(session) == "1") is (not plain_is_exact)


def test_saturating_kernels_get_the_exact_entry(monkeypatch, tmp_path):
    # What an AVX2-only CPU answers: pairs of products clipped at int16.
    monkeypatch.setattr(sessions, "probe_output", lambda exact: np.full((1, 8, 4, 4), 32.5))
    assert int8_saturates() is True
    assert _entry(onnx_session(_probe_file(tmp_path), threads=1)) == "1"


def test_exact_kernels_get_the_plain_fast_session(monkeypatch, tmp_path):
    monkeypatch.setattr(
        sessions, "probe_output", lambda exact: np.full((1, 8, 4, 4), float(PROBE_CHANNELS))
    )
    assert int8_saturates() is False
    assert _entry(onnx_session(_probe_file(tmp_path), threads=1)) is None


@pytest.mark.parametrize("forced, expected", [("1", True), ("0", False)])
def test_the_environment_forces_the_decision_without_probing(monkeypatch, forced, expected):
    def refuse(exact: bool) -> np.ndarray:
        raise AssertionError("the probe must not run when the choice is forced")

    monkeypatch.setattr(sessions, "probe_output", refuse)
    monkeypatch.setenv(INT8_EXACT_ENV, forced)
    assert int8_saturates() is expected


def test_the_probe_runs_once_per_process(monkeypatch):
    calls = []

    def counted(exact: bool) -> np.ndarray:
        calls.append(exact)
        return np.full((1, 8, 4, 4), float(PROBE_CHANNELS))

    monkeypatch.setattr(sessions, "probe_output", counted)
    for _ in range(3):
        int8_saturates()
    assert calls == [False]
