"""onnxruntime sessions that give exact int8 sums on every x86 CPU, at full speed where they can.

    from ai_detector.inference.sessions import onnx_session, int8_saturates
    session = onnx_session(Path("model.onnx"), threads=1)
    python -m ai_detector.inference.sessions        # logs what the probe finds on this CPU

onnxruntime's u8*s8 kernels take one of two paths. On CPUs with VNNI (AVX512-VNNI,
AVX-VNNI, AMX) products are summed in int32: exact. On AVX2-only CPUs the kernels add
adjacent pairs of products in int16 (``vpmaddubsw``), which saturates: measured on an
AVX2-only AMD EPYC, int8 vs fp32 logits differed by 0.44 on average instead of 0.09, and
6% of verdicts flipped. The session entry ``session.x64quantprecision`` forces exact sums,
but on a VNNI CPU it also costs speed (an Intel Xeon with AMX: 4.0 -> 9.1 ms per image).

So instead of a CPU-flag table the process asks the kernels themselves, once: a tiny
shipped QDQ convolution (``int8_probe.onnx``) whose every pair of products overflows
int16, and whose exact answer is known, runs in a plain session. If the answer is exact,
plain sessions are used; otherwise every session gets the entry.
``AI_DETECTOR_INT8_EXACT=1`` (or ``0``) forces the choice, for tests and for a CPU the
probe misjudges. The same answer decides which candidate runs
(:mod:`ai_detector.inference.precision`).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)

INT8_EXACT_ENV = "AI_DETECTOR_INT8_EXACT"
EXACT_ENTRY = "session.x64quantprecision"
PROBE_CHANNELS = 64
# Shipped as a file so that the core needs onnxruntime alone, not onnx, to run it.
PROBE_FILE = Path(__file__).with_name("int8_probe.onnx")


def probe_model() -> bytes:
    """The probe convolution (built by ``python -m ai_detector.pipeline.int8_probe``, whose
    docstring says why every pair of its products overflows int16): the exact output is
    PROBE_CHANNELS per pixel for an input of ones."""
    return PROBE_FILE.read_bytes()


def _options(threads: int, exact: bool) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0 lets onnxruntime use every core
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if exact:
        options.add_session_config_entry(EXACT_ENTRY, "1")
    return options


def probe_output(exact: bool) -> np.ndarray:
    """The probe convolution's output in a plain (``exact=False``) or exact session."""
    session = ort.InferenceSession(
        probe_model(), _options(1, exact), providers=["CPUExecutionProvider"]
    )
    ones = np.ones((1, PROBE_CHANNELS, 4, 4), np.float32)
    (output,) = session.run(None, {"input": ones})
    return np.asarray(output)


@functools.cache
def int8_saturates() -> bool:
    """Whether this CPU's plain int8 kernels lose precision: asked once per process."""
    forced = os.environ.get(INT8_EXACT_ENV, "").strip()
    if forced in ("0", "1"):
        saturates = forced == "1"
        log.info("int8 sessions: %s=%s (forced by %s)", EXACT_ENTRY, int(saturates), INT8_EXACT_ENV)
        return saturates
    output = probe_output(exact=False)
    saturates = not np.allclose(output, float(PROBE_CHANNELS))
    log.info(
        "int8 probe: a plain session gives %.1f where the exact sum is %d: %s",
        float(output.mean()),
        PROBE_CHANNELS,
        f"sessions set {EXACT_ENTRY}" if saturates else "plain sessions are exact and fast",
    )
    return saturates


def onnx_session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session for ``path``: exact int8 sums on every CPU, the fast kernels where exact."""
    options = _options(threads, exact=int8_saturates())
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    int8_saturates()
