"""Which model ships: int8 candidates, alone and as cascades, against the parity gate.

    from ai_detector.pipeline.promote import Images, search
    report, chosen = search(params, fp32_dir, images, work_dir)

Used by the export stage (python -m ai_detector.pipeline.export). Every candidate is a model
directory that the Predictor loads, so parity and speed are measured on the artefact that
would ship, through the code that would serve it:

- ``<method>/float<N>``: static int8, one per calibration method and count of leading
  fp32 convolutions (ai_detector.pipeline.quantize);
- ``<method>/float<N>+fp32``: the same int8 model with the fp32 model as its fallback
  for images near a decision boundary, the margin fitted on training images that
  neither calibration nor bias correction saw (ai_detector.inference.cascade).

A candidate may replace fp32 only if, on the validation split, it agrees with fp32's
decisions on >= ``min_agreement`` of the images and loses <= ``max_f1_drop`` macro F1.
int8 pays off only where the CPU has fast int8 kernels (VNNI), so the choice between
them is left to the machine that serves: the int8 model whose passing form (alone or as
a cascade) was fastest here ships beside the fp32 model, and metadata.json lists fp32,
int8 and the cascade as candidates with their parity figures. The Predictor runs the
fastest that passed on the CPU it runs on (ai_detector.inference.precision); the same rule, run
here, names the exported default. When no int8 form passes, fp32 ships alone.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization.shape_inference import quant_pre_process
from sklearn.metrics import f1_score

from ai_detector.inference.cascade import fit_margin, needs_fallback
from ai_detector.inference.metadata import Candidate, ModelMetadata
from ai_detector.inference.precision import FP32
from ai_detector.inference.predictor import Predictor, decide, softmax
from ai_detector.pipeline.params import ExportParams
from ai_detector.pipeline.quantize import quantize_int8

log = logging.getLogger(__name__)

FALLBACK_FILE = "model_fp32.onnx"
PARITY_KEYS = ("agreement", "macro_f1", "macro_f1_fp32", "max_logit_diff", "mean_logit_diff")


@dataclass(frozen=True)
class Images:
    """Preprocessed arrays, each set with its own use (never two uses for one image)."""

    val: np.ndarray
    val_labels: np.ndarray
    calibration: np.ndarray  # activation ranges
    correction: np.ndarray  # bias correction
    margin: np.ndarray  # the cascade's margin


def logits(model_dir: Path, arrays: np.ndarray, batch_size: int = 32) -> np.ndarray:
    predictor = Predictor(model_dir, threads=0)
    parts = [
        predictor.logits(arrays[i : i + batch_size]) for i in range(0, len(arrays), batch_size)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, len(predictor.metadata.labels)))


def latency(model_dir: Path, arrays: np.ndarray, rounds: int = 96) -> dict[str, float]:
    """Model-only speed through the Predictor, one thread, on real images (a cascade's
    cost depends on how many of them fall back): median ms at batch 1, img/s at batch 8."""
    predictor = Predictor(model_dir, threads=1)
    picks = arrays[np.arange(rounds) % len(arrays)]
    timings = []
    for row in range(len(picks)):
        start = time.perf_counter()
        predictor.logits(picks[row : row + 1])
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    for first in range(0, len(picks), 8):
        predictor.logits(picks[first : first + 8])
    return {
        "batch1_ms": 1000 * float(np.median(timings)),
        "batch8_img_per_s": len(picks) / (time.perf_counter() - start),
        "threads": 1,
    }


def parity(
    reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray, metadata: ModelMetadata
) -> dict[str, float]:
    ref_pred = decide(softmax(reference, metadata.temperature), metadata)
    cand_pred = decide(softmax(candidate, metadata.temperature), metadata)
    return {
        "agreement": float((ref_pred == cand_pred).mean()),
        "macro_f1_fp32": float(f1_score(labels, ref_pred, average="macro")),
        "macro_f1": float(f1_score(labels, cand_pred, average="macro")),
        "max_logit_diff": float(np.abs(reference - candidate).max()),
        "mean_logit_diff": float(np.abs(reference - candidate).mean()),
    }


def passes(result: dict[str, Any], params: ExportParams) -> bool:
    """The parity gate: a candidate may replace fp32 only if it keeps fp32's decisions."""
    return (
        result["agreement"] >= params.min_agreement
        and result["macro_f1_fp32"] - result["macro_f1"] <= params.max_f1_drop
    )


def _model_dir(
    path: Path, model: Path, metadata: ModelMetadata, precision: str, fallback: Path | None = None
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, path / metadata.model_file)
    if fallback is not None and metadata.fallback_model_file:
        shutil.copyfile(fallback, path / metadata.fallback_model_file)
    metadata.replace(precision=precision).save(path)
    return path


def ship(
    path: Path,
    metadata: ModelMetadata,
    fp32_model: Path,
    int8_model: Path,
    name: str,
    result: dict[str, Any],
    params: ExportParams,
) -> Path:
    """A model directory with fp32, the int8 model and (if fitted) their cascade as
    candidates; the default among them is what the Predictor's rule picks on this machine."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(int8_model, path / metadata.model_file)
    shutil.copyfile(fp32_model, path / FALLBACK_FILE)
    figures = {key: result[key] for key in PARITY_KEYS}
    candidates = [
        Candidate(FP32, FALLBACK_FILE),
        Candidate(
            f"int8-{name}", metadata.model_file, passed=passes(result, params), parity=figures
        ),
    ]
    if "cascade" in result:
        cascade = result["cascade"]
        candidates.append(
            Candidate(
                f"int8-{name}+fp32",
                metadata.model_file,
                FALLBACK_FILE,
                cascade["margin"],
                cascade["fallback_fraction"],
                passes(cascade, params),
                {key: cascade[key] for key in PARITY_KEYS},
            )
        )
    metadata.replace(candidates=tuple(candidates), min_speedup=params.min_speedup).save(path)
    chosen = Predictor(path, threads=1).candidate
    metadata.replace(
        precision=chosen.name,
        model_file=chosen.model_file,
        fallback_model_file=chosen.fallback_model_file,
        fallback_margin=chosen.fallback_margin,
        candidates=tuple(candidates),
        min_speedup=params.min_speedup,
    ).save(path)
    return path


def search(
    params: ExportParams, fp32_dir: Path, images: Images, work: Path
) -> tuple[dict[str, Any], Path]:
    """Build and measure every int8 candidate; returns the report and the directory to
    ship: ``fp32_dir`` itself when no int8 form passes, else the one :func:`ship` makes
    from the int8 model whose passing form was fastest here."""
    metadata = ModelMetadata.load(fp32_dir)
    fp32_model = fp32_dir / metadata.model_file
    prepared = work / "model_prep.onnx"  # shape inference + graph optimisation first
    quant_pre_process(str(fp32_model), str(prepared))
    fp32_val = logits(fp32_dir, images.val)
    fp32_margin = logits(fp32_dir, images.margin)
    report: dict[str, Any] = {"latency_fp32": latency(fp32_dir, images.val), "int8": {}}
    passing: list[tuple[float, str, Path]] = []  # (best passing speed, name, int8 model)
    for method, float_convs in itertools.product(params.calibration_methods, params.float_convs):
        name = f"{method}/float{float_convs}"
        int8_model = quantize_int8(
            prepared,
            work / f"int8_{method}_{float_convs}.onnx",
            images.calibration,
            method,
            images.correction,
            float_convs,
        )
        plain = _model_dir(work / name.replace("/", "_"), int8_model, metadata, f"int8-{name}")
        int8_val = logits(plain, images.val)
        result: dict[str, Any] = {
            "method": method,
            "float_convs": float_convs,
            **parity(fp32_val, int8_val, images.val_labels, metadata),
            "latency": latency(plain, images.val),
        }
        speeds = [result["latency"]["batch8_img_per_s"]] if passes(result, params) else []
        if len(images.margin):
            margin = fit_margin(fp32_margin, logits(plain, images.margin), metadata)
            cascade = metadata.replace(fallback_model_file=FALLBACK_FILE, fallback_margin=margin)
            both = _model_dir(
                work / f"{plain.name}+fp32", int8_model, cascade, f"int8-{name}+fp32", fp32_model
            )
            result["cascade"] = {
                "margin": margin,
                "fallback_fraction": float(needs_fallback(int8_val, metadata, margin).mean()),
                **parity(fp32_val, logits(both, images.val), images.val_labels, metadata),
                "latency": latency(both, images.val),
            }
            if passes(result["cascade"], params):
                speeds.append(result["cascade"]["latency"]["batch8_img_per_s"])
        log.info("int8 %s: %s", name, result)
        report["int8"][name] = result
        if speeds:
            passing.append((max(speeds), name, int8_model))
    if not passing:
        report["promoted"] = FP32
        return report, fp32_dir
    _, name, int8_model = max(passing)
    shipped = ship(
        work / "shipped", metadata, fp32_model, int8_model, name, report["int8"][name], params
    )
    report["promoted"] = ModelMetadata.load(shipped).precision
    report["shipped_candidates"] = [c.name for c in ModelMetadata.load(shipped).candidates]
    return report, shipped
