"""How fast each export candidate runs here, with its spread, and the fixed rule that picks one.

    from ai_detector.pipeline.speed import measure, choose
    speeds = measure({"model.onnx": path, ...}, candidates, images)
    chosen = choose(candidates, speeds, tie_break=("fp32", "int8", "cascade"), min_speedup=1.1)

Used by ai_detector.pipeline.promote (the export stage). Each model *file* is timed, not
each candidate: every file runs the same validation images at batch 1 and at batch 8,
after a warm-up, interleaved with the other files (``timed_runs``). A candidate's cost in
each round is then ``precision.cost_ms``: its model, plus its fallback times the share of
validation images that fell back. So a cascade can never be measured faster than its
own int8 model. (A serving machine does not time: it decides by whether its int8 kernels
are exact, ai_detector.inference.precision.)

Candidates are compared round by round (in each round every file ran once, back to back,
so a busy moment of the machine slows all alike): the ratio of two candidates' costs in
each round, and its quartiles. An int8 form counts only if fp32 costs ``min_speedup``
times as much in the median round. Of what is left, the fastest by median cost ships,
unless others are within the spread, not clearly slower (no more expensive than it in at
least a quarter of the rounds); then the kind (``fp32``, ``int8``, ``cascade``) named
first in ``export.tie_break`` wins, and among equals the first in the candidates' order
(params.yaml's). So a load that slows every file alike cannot change the choice, and
candidates too close to tell apart always resolve the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ai_detector.inference.metadata import Candidate
from ai_detector.inference.precision import cost_ms, is_fp32
from ai_detector.inference.sessions import onnx_session

log = logging.getLogger(__name__)

WARMUP_ROUNDS = 8
BATCH1_ROUNDS = 96
BATCH8_ROUNDS = 16


def kind(candidate: Candidate) -> str:
    if is_fp32(candidate):
        return "fp32"
    return "cascade" if candidate.fallback_model_file else "int8"


@dataclass(frozen=True)
class Speed:
    """A candidate's per-image model cost in each timed round (ms, one thread, batch 1),
    and its throughput at batch 8."""

    costs: tuple[float, ...]
    batch8_img_per_s: float

    @property
    def median_ms(self) -> float:
        return float(np.median(self.costs))

    def times(self, other: Speed) -> tuple[float, float, float]:
        """How many times ``other``'s cost this one is, round by round (both ran in the
        same rounds, so a busy moment slows both alike): 25th, 50th, 75th percentile."""
        ratios = np.array(self.costs) / np.array(other.costs)
        low, median, high = np.percentile(ratios, [25, 50, 75])
        return float(low), float(median), float(high)

    def report(self) -> dict[str, Any]:
        low, median, high = np.percentile(self.costs, [25, 50, 75])
        return {
            "batch1_ms": float(median),
            "batch1_ms_p25": float(low),
            "batch1_ms_p75": float(high),
            "batch8_img_per_s": self.batch8_img_per_s,
            "rounds": len(self.costs),
            "threads": 1,
        }


def timed_runs(
    sessions: Mapping[str, Any], batches: Sequence[np.ndarray], warmup: int
) -> dict[str, list[float]]:
    """Each batch through every session, interleaved (a noisy neighbour slows them alike)
    and in an order that rotates each round (none always runs first): ms per run, the
    first ``warmup`` rounds left out (first runs pay for allocations and cold caches)."""
    names = list(sessions)
    timings: dict[str, list[float]] = {name: [] for name in names}
    for run, batch in enumerate(batches):
        shift = run % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            session = sessions[name]
            feed = {session.get_inputs()[0].name: batch}
            start = time.perf_counter()
            session.run(None, feed)
            if run >= warmup:
                timings[name].append(1000 * (time.perf_counter() - start))
    return timings


def _batches(images: np.ndarray, size: int, rounds: int) -> list[np.ndarray]:
    rows = np.arange(rounds * size) % len(images)
    return [images[rows[i * size : (i + 1) * size]] for i in range(rounds)]


def candidate_costs(
    candidates: Sequence[Candidate], file_runs: Mapping[str, Sequence[float]]
) -> dict[str, list[float]]:
    """Each candidate's cost in each round, from the files' times in that round."""
    rounds = min(len(runs) for runs in file_runs.values())
    per_round = [{name: runs[i] for name, runs in file_runs.items()} for i in range(rounds)]
    return {c.name: [cost_ms(c, file_ms) for file_ms in per_round] for c in candidates}


def measure(
    files: Mapping[str, Path], candidates: Sequence[Candidate], images: np.ndarray
) -> dict[str, Speed]:
    """Time every file in ``files`` (keyed as the candidates name them) on ``images``."""
    sessions = {name: onnx_session(path, threads=1) for name, path in files.items()}
    single = timed_runs(sessions, _batches(images, 1, WARMUP_ROUNDS + BATCH1_ROUNDS), WARMUP_ROUNDS)
    eight = timed_runs(sessions, _batches(images, 8, WARMUP_ROUNDS + BATCH8_ROUNDS), WARMUP_ROUNDS)
    batch1, batch8 = candidate_costs(candidates, single), candidate_costs(candidates, eight)
    return {
        c.name: Speed(tuple(batch1[c.name]), 8000 / float(np.median(batch8[c.name])))
        for c in candidates
    }


def within_spread(candidates: Sequence[Candidate], speeds: Mapping[str, Speed]) -> list[Candidate]:
    """The fastest candidate (by median) and every other that is not clearly slower: that
    cost no more than it in at least a quarter of the rounds."""
    fastest = speeds[min(candidates, key=lambda c: speeds[c.name].median_ms).name]
    return [c for c in candidates if speeds[c.name].times(fastest)[0] <= 1.0]


def choose(
    candidates: Sequence[Candidate],
    speeds: Mapping[str, Speed],
    tie_break: Sequence[str],
    min_speedup: float,
) -> Candidate:
    """The candidate to ship by the rule in the module docstring (``candidates`` passed)."""
    references = [c for c in candidates if is_fp32(c)]
    if references:
        # int8 only where it is min_speedup x faster: within that the timing cannot tell.
        reference = speeds[references[0].name]
        candidates = [
            c for c in candidates if is_fp32(c) or reference.times(speeds[c.name])[1] >= min_speedup
        ]
    tied = within_spread(candidates, speeds)
    # min() keeps the first of equal keys: the candidates' own order breaks the last tie.
    chosen = min(tied, key=lambda c: tie_break.index(kind(c)))
    log.info(
        "shipping %s (not clearly slower than the fastest: %s; tie-break %s)",
        chosen.name,
        ", ".join(c.name for c in tied),
        list(tie_break),
    )
    return chosen
