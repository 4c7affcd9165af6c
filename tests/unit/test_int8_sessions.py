"""int8 sessions are exact on every x86 CPU, and plain (fast) wherever the probe allows it.

On a CPU with VNNI the plain kernels are exact already, so no output here can show
whether the exact-sums entry works: the tests check instead that the entry is one
onnxruntime knows (its name is compiled into the library), and that the sessions
built for each probe answer carry it or not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from ai_detector.inference import sessions
from ai_detector.inference.sessions import (
    EXACT_ENTRY,
    INT8_EXACT_ENV,
    PROBE_CHANNELS,
    PROBE_FILE,
    int8_saturates,
    onnx_session,
)


@pytest.fixture(autouse=True)
def fresh_decision(monkeypatch):
    """Each test decides again (the decision is cached once per process)."""
    monkeypatch.delenv(INT8_EXACT_ENV, raising=False)
    int8_saturates.cache_clear()
    yield
    int8_saturates.cache_clear()


def _entry(session) -> str | None:
    options = session.get_session_options()
    try:
        return options.get_session_config_entry(EXACT_ENTRY)
    except RuntimeError as error:  # onnxruntime's answer for a key that was never set
        assert "does not have configuration with key" in str(error)
        return None


def test_the_exact_entry_is_a_key_onnxruntime_reads():
    """A misspelt key would be stored and ignored: every other test here would pass on a
    VNNI CPU, while AVX2-only CPUs kept their saturating sums."""
    library = Path(ort.capi.onnxruntime_pybind11_state.__file__)  # the compiled library
    assert EXACT_ENTRY.encode() in library.read_bytes()


def test_the_shipped_probe_is_the_builders_model():
    """The core runs a file so that it needs no onnx; the file must be what the builder
    makes (python -m ai_detector.pipeline.int8_probe rewrites it)."""
    import onnx

    from ai_detector.pipeline.int8_probe import build

    assert onnx.load(str(PROBE_FILE)) == build()


def test_the_exact_session_sums_the_probe_exactly_on_this_cpu():
    np.testing.assert_allclose(sessions.probe_output(exact=True), float(PROBE_CHANNELS))


def test_sessions_are_exact_on_this_cpu_whatever_the_probe_decided():
    session = onnx_session(PROBE_FILE, threads=1)
    ones = np.ones((1, PROBE_CHANNELS, 4, 4), np.float32)
    (output,) = session.run(None, {"input": ones})
    np.testing.assert_allclose(output, float(PROBE_CHANNELS))
    # The decision matches what this CPU's plain kernels really do.
    plain_is_exact = np.allclose(sessions.probe_output(exact=False), float(PROBE_CHANNELS))
    assert int8_saturates() is (not plain_is_exact)
    assert (_entry(session) == "1") is (not plain_is_exact)


def test_saturating_kernels_get_the_exact_entry(monkeypatch):
    # What an AVX2-only CPU answers: pairs of products clipped at int16.
    monkeypatch.setattr(sessions, "probe_output", lambda exact: np.full((1, 8, 4, 4), 32.5))
    assert int8_saturates() is True
    assert _entry(onnx_session(PROBE_FILE, threads=1)) == "1"


def test_exact_kernels_get_the_plain_fast_session(monkeypatch):
    monkeypatch.setattr(
        sessions, "probe_output", lambda exact: np.full((1, 8, 4, 4), float(PROBE_CHANNELS))
    )
    assert int8_saturates() is False
    assert _entry(onnx_session(PROBE_FILE, threads=1)) is None


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


def test_the_readme_commands_build_the_probe_and_show_the_decision(tmp_path):
    """`python -m ai_detector.pipeline.int8_probe` (to another file here, so the test leaves
    the shipped one alone) writes the shipped bytes; `python -m ai_detector.inference.sessions`
    logs what the probe finds on this CPU."""
    import subprocess
    import sys

    out = tmp_path / "probe.onnx"
    build = [sys.executable, "-m", "ai_detector.pipeline.int8_probe", "--out", str(out)]
    subprocess.run(build, check=True, capture_output=True, timeout=120)
    assert out.read_bytes() == PROBE_FILE.read_bytes()
    shown = subprocess.run(
        [sys.executable, "-m", "ai_detector.inference.sessions"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert f"the exact sum is {PROBE_CHANNELS}" in shown.stderr
