"""Which of a model directory's candidates runs here: decided by a fact of the CPU, not a timing.

    from ai_detector.inference.precision import choose
    candidate, reason = choose(metadata, int8_exact=not int8_saturates())
    AI_DETECTOR_PRECISION=fp32 ai-detector predict photo.jpg   # force a candidate by name

The export stage ships every candidate it checked (fp32, int8, int8 with an fp32
fallback) with their parity figures. Which one is fastest depends on the CPU, but timing
them at load made the choice a matter of noise: two TorchServe workers loading side by
side on one host timed 23.8 against 23.2 ms and 23.7 against 21.0 ms, chose differently,
and the same image got two different answers from one service. So the choice follows the
one fact that decides int8's speed, which :mod:`ai_detector.inference.sessions` already
asks the kernels once per process (its probe):

- plain int8 kernels exact (VNNI, AVX-VNNI, AMX: products summed in int32): int8 runs
  at about twice fp32's speed (an Intel Xeon with AMX: 4.0 against 7.0 ms per image), so
  the int8 candidate with the smallest fallback share runs, the exported one first
  among equals;
- plain int8 kernels saturating (AVX2 only): exact sums must be forced, which makes int8
  no faster than fp32 (measured on an AMD EPYC: within the noise), so fp32, the
  reference, runs.

Every process on a host probes the same kernels, so every worker runs the same file and
gives byte-identical answers; the choice and its reason are logged once per process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ai_detector.inference.metadata import Candidate, ModelMetadata

log = logging.getLogger(__name__)

PRECISION_ENV = "AI_DETECTOR_PRECISION"
AUTO = "auto"
EXPORTED = "exported"
FP32 = "fp32"  # the name of the unquantised candidate, which the export stage always checks


def is_fp32(candidate: Candidate) -> bool:
    return candidate.name == FP32


def cost_ms(candidate: Candidate, file_ms: Mapping[str, float]) -> float:
    """Expected model time per image: the model, plus the fallback on its share of images."""
    cost = file_ms[candidate.model_file]
    if candidate.fallback_model_file:
        cost += candidate.fallback_fraction * file_ms[candidate.fallback_model_file]
    return cost


def by_cpu(metadata: ModelMetadata, int8_exact: bool) -> tuple[Candidate, str]:
    """The candidate the rule in the module docstring picks, and why, in words."""
    runnable = metadata.runnable
    references = [c for c in runnable if is_fp32(c)]
    # The exported candidate first, then the candidates' own order: a fixed tie-break.
    int8 = sorted(
        (c for c in runnable if not is_fp32(c)),
        key=lambda c: (c.fallback_fraction, c.name != metadata.precision),
    )
    if int8 and (int8_exact or not references):
        why = (
            "this CPU's int8 kernels sum exactly (VNNI/AMX), so int8 outruns fp32"
            if int8_exact
            else "no fp32 candidate passed, so int8 runs with exact sums forced"
        )
        return int8[0], f"{why}; least fallback of {[c.name for c in int8]}"
    if int8:
        return references[0], (
            "this CPU's int8 kernels saturate without exact sums (no VNNI), and with them "
            "int8 is no faster than fp32, the reference"
        )
    return runnable[0], "the only candidate that passed the parity gate"


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
    metadata: ModelMetadata, int8_exact: bool, precision: str | None = None
) -> tuple[Candidate, str]:
    """The candidate to run and the reason, logged: ``precision`` (or $AI_DETECTOR_PRECISION)
    if it names one, else the rule on ``int8_exact`` (whether plain int8 kernels are exact)."""
    name = precision or os.environ.get(PRECISION_ENV, "").strip() or AUTO
    if name != AUTO:
        chosen, reason = requested(metadata, name), f"asked for by name ({PRECISION_ENV})"
    else:
        chosen, reason = by_cpu(metadata, int8_exact)
    log.info("precision %s: %s", chosen.name, reason)
    return chosen, reason
