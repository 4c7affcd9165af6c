"""Which of a model directory's candidates runs here: the fastest on this CPU that passed.

    from ai_detector.inference.precision import choose
    candidate, timings = choose(metadata, sessions, input_shape)
    AI_DETECTOR_PRECISION=fp32 ai-detector predict photo.jpg   # force a candidate by name

The export stage ships every candidate it checked (fp32, int8, int8 with an fp32
fallback) with their parity figures, but measures speed only on the machine that runs
it, and int8's speed depends on the CPU: with VNNI int8 runs at about 2x fp32, on
AVX2-only CPUs (exact sums) hardly faster. So the choice is made again at load, by the
rule the export stage applies, on this CPU: each model file runs a few batch-1 passes
(after a warm-up, interleaved so that a noisy neighbour slows them alike), a candidate
costs its model's median plus its fallback's median times the share of validation
images that fell back, and the cheapest wins. An int8 candidate must beat the fastest
fp32 candidate by ``metadata.min_speedup``: within that margin the measurement cannot
tell them apart, and fp32 (the reference) is the fixed tie-break, so a CPU on which the
two are close always runs the same one.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from ai_detector.inference.metadata import Candidate, ModelMetadata

log = logging.getLogger(__name__)

PRECISION_ENV = "AI_DETECTOR_PRECISION"
AUTO = "auto"
EXPORTED = "exported"
FP32 = "fp32"  # the name of the unquantised candidate, which the export stage always checks
WARMUP_RUNS = 3
TIMED_RUNS = 12


class Session(Protocol):
    def run(self, output_names: Any, input_feed: dict[str, np.ndarray]) -> list[Any]: ...

    def get_inputs(self) -> list[Any]: ...


def is_fp32(candidate: Candidate) -> bool:
    return candidate.name == FP32


def median_ms(sessions: Mapping[str, Session], shape: tuple[int, ...]) -> dict[str, float]:
    """Median batch-1 time of each session, in ms, runs interleaved across sessions."""
    batch = np.random.default_rng(0).standard_normal((1, *shape[1:])).astype(np.float32)
    timings: dict[str, list[float]] = {name: [] for name in sessions}
    for run in range(WARMUP_RUNS + TIMED_RUNS):
        for name, session in sessions.items():
            feed = {session.get_inputs()[0].name: batch}
            start = time.perf_counter()
            session.run(None, feed)
            if run >= WARMUP_RUNS:
                timings[name].append(1000 * (time.perf_counter() - start))
    return {name: float(np.median(values)) for name, values in timings.items()}


def cost_ms(candidate: Candidate, file_ms: Mapping[str, float]) -> float:
    """Expected model time per image: the model, plus the fallback on its share of images."""
    cost = file_ms[candidate.model_file]
    if candidate.fallback_model_file:
        cost += candidate.fallback_fraction * file_ms[candidate.fallback_model_file]
    return cost


def pick(
    candidates: tuple[Candidate, ...], file_ms: Mapping[str, float], min_speedup: float
) -> Candidate:
    """The cheapest candidate; an int8 one only if ``min_speedup`` x faster than fp32."""
    cheapest = min(candidates, key=lambda c: cost_ms(c, file_ms))
    references = [c for c in candidates if is_fp32(c)]
    if not references or is_fp32(cheapest):
        return cheapest
    reference = min(references, key=lambda c: cost_ms(c, file_ms))
    if cost_ms(reference, file_ms) >= min_speedup * cost_ms(cheapest, file_ms):
        return cheapest
    return reference


def requested(metadata: ModelMetadata, name: str) -> Candidate:
    """The candidate named by ``AI_DETECTOR_PRECISION`` (or ``exported``)."""
    if name == EXPORTED:
        return metadata.exported
    known = {c.name: c for c in (metadata.exported, *metadata.candidates)}
    if name not in known:
        raise ValueError(f"{PRECISION_ENV}={name}: the model has {sorted(known)} (or auto)")
    if not known[name].passed:
        log.warning("running %s, which failed the parity gate, because it was asked for", name)
    return known[name]


def choose(
    metadata: ModelMetadata,
    load: Callable[[str], Session],
    shape: tuple[int, ...],
    precision: str | None = None,
) -> tuple[Candidate, dict[str, float]]:
    """The candidate to run and the per-file timings it was chosen by (empty if none ran).
    ``load`` gives the session of a model file; only the files that are timed are loaded."""
    name = precision or os.environ.get(PRECISION_ENV, "").strip() or AUTO
    if name != AUTO:
        return requested(metadata, name), {}
    runnable = metadata.runnable
    if len(runnable) == 1:
        return runnable[0], {}
    files = sorted({file for candidate in runnable for file in candidate.model_files})
    file_ms = median_ms({file: load(file) for file in files}, shape)
    chosen = pick(runnable, file_ms, metadata.min_speedup)
    log.info(
        "precision %s chosen on this CPU: %s",
        chosen.name,
        ", ".join(f"{c.name} {cost_ms(c, file_ms):.2f} ms" for c in runnable),
    )
    return chosen, file_ms
