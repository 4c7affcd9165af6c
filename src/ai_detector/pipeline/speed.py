"""How fast each export candidate runs here, with its spread, and the fixed rule that picks one.

    from ai_detector.pipeline.speed import measure, choose
    speeds = measure({"model.onnx": path, ...}, candidates, images)
    chosen = choose(candidates, speeds, tie_break=("fp32", "int8", "cascade"), min_speedup=1.1)

Used by ai_detector.pipeline.promote (the export stage). Each model *file* is timed, not
each candidate: every file runs the same validation images at batch 1 and at batch 8,
after a warm-up, interleaved with the other files (ai_detector.inference.precision's
``timed_runs``, the loop the Predictor chooses by at load). A candidate's cost in each
round is then ``precision.cost_ms``: its model, plus its fallback times the share of
validation images that fell back. So a cascade can never be measured faster than its
own int8 model, and the figures are the ones the serving machine decides by.

The choice: as the Predictor requires at load, an int8 form counts only if its median
cost beats fp32's by ``min_speedup``. Of what is left, the fastest by median cost ships,
unless others lie within its spread (their inter-quartile ranges of per-round cost
overlap); then the kind (``fp32``, ``int8``, ``cascade``) named first in
``export.tie_break`` wins, and among equals the first in the candidates' order
(params.yaml's). The same checkpoint on the same CPU thus
ships the same precision however the measurement's noise falls.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ai_detector.inference.metadata import Candidate
from ai_detector.inference.precision import cost_ms, is_fp32, timed_runs
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
    """A candidate's per-image model cost over the timed rounds (ms, one thread)."""

    median_ms: float
    low_ms: float  # 25th percentile
    high_ms: float  # 75th percentile
    batch8_img_per_s: float
    rounds: int

    @classmethod
    def of(cls, batch1: Sequence[float], batch8: Sequence[float]) -> Speed:
        low, median, high = np.percentile(batch1, [25, 50, 75])
        return cls(
            float(median), float(low), float(high), 8000 / float(np.median(batch8)), len(batch1)
        )

    def overlaps(self, other: Speed) -> bool:
        return self.low_ms <= other.high_ms and other.low_ms <= self.high_ms

    def report(self) -> dict[str, Any]:
        return {
            "batch1_ms": self.median_ms,
            "batch1_ms_p25": self.low_ms,
            "batch1_ms_p75": self.high_ms,
            "batch8_img_per_s": self.batch8_img_per_s,
            "rounds": self.rounds,
            "threads": 1,
        }


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
    return {c.name: Speed.of(batch1[c.name], batch8[c.name]) for c in candidates}


def within_spread(candidates: Sequence[Candidate], speeds: Mapping[str, Speed]) -> list[Candidate]:
    """The fastest candidate (by median) and every other whose spread overlaps its own."""
    fastest = min(candidates, key=lambda c: speeds[c.name].median_ms)
    return [c for c in candidates if speeds[c.name].overlaps(speeds[fastest.name])]


def choose(
    candidates: Sequence[Candidate],
    speeds: Mapping[str, Speed],
    tie_break: Sequence[str],
    min_speedup: float,
) -> Candidate:
    """The candidate to ship by the rule in the module docstring (``candidates`` passed)."""
    references = [c for c in candidates if is_fp32(c)]
    if references:
        # As the Predictor requires at load: int8 only where it is min_speedup x faster.
        reference = speeds[references[0].name].median_ms
        candidates = [
            c
            for c in candidates
            if is_fp32(c) or reference >= min_speedup * speeds[c.name].median_ms
        ]
    tied = within_spread(candidates, speeds)
    # min() keeps the first of equal keys: the candidates' own order breaks the last tie.
    chosen = min(tied, key=lambda c: tie_break.index(kind(c)))
    log.info(
        "shipping %s (within the fastest's spread: %s; tie-break %s)",
        chosen.name,
        ", ".join(c.name for c in tied),
        list(tie_break),
    )
    return chosen
