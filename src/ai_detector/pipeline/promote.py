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
Speed is measured per model file, with a warm-up and interleaved rounds, and a cascade
costs its int8 model plus its share of fp32 (ai_detector.pipeline.speed); the default is
the fastest that passed unless others lie within its spread, where ``export.tie_break``
in params.yaml decides, so the same checkpoint ships the same precision on one CPU.
int8 pays off only where the CPU has fast int8 kernels (VNNI), so the int8 model of the
chosen form (or, when fp32 wins here, of the best int8 form) ships beside the fp32 model
and metadata.json lists fp32, int8 and the cascade as candidates with their parity
figures: where it runs, the Predictor takes int8 if that CPU's int8 kernels are exact
(VNNI), else fp32 (ai_detector.inference.precision). When no int8 form passes, fp32 ships alone.
"""

from __future__ import annotations

import itertools
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization.shape_inference import quant_pre_process
from sklearn.metrics import f1_score

from ai_detector.inference.cascade import fit_margin, needs_fallback
from ai_detector.inference.decision import decide, softmax
from ai_detector.inference.metadata import Candidate, ModelMetadata
from ai_detector.inference.precision import FP32, is_fp32
from ai_detector.inference.predictor import Predictor
from ai_detector.pipeline.params import ExportParams
from ai_detector.pipeline.quantize import quantize_int8
from ai_detector.pipeline.speed import choose, measure, within_spread

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
    default: str,
) -> Path:
    """A model directory with fp32, the int8 model and (if fitted) their cascade as
    candidates; ``default`` (one of their names) is the exported precision."""
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
    chosen = next(c for c in candidates if c.name == default)
    metadata.replace(
        precision=chosen.name,
        model_file=chosen.model_file,
        fallback_model_file=chosen.fallback_model_file,
        fallback_margin=chosen.fallback_margin,
        candidates=tuple(candidates),
        min_speedup=params.min_speedup,
    ).save(path)
    return path


def timing_candidates(
    fp32_file: str, report: dict[str, Any], files: dict[str, str], params: ExportParams | None
) -> list[Candidate]:
    """fp32 and every int8 form (only those that pass the gate of ``params``, if given),
    named as in the report and naming the timed files (``files``: int8 name -> file)."""
    found = [Candidate(FP32, fp32_file)]
    for name, result in report["int8"].items():
        if params is None or passes(result, params):
            found.append(Candidate(f"int8-{name}", files[name]))
        cascade = result.get("cascade")
        if cascade and (params is None or passes(cascade, params)):
            found.append(
                Candidate(
                    f"int8-{name}+fp32",
                    files[name],
                    fp32_file,
                    cascade["margin"],
                    cascade["fallback_fraction"],
                )
            )
    return found


def search(
    params: ExportParams, fp32_dir: Path, images: Images, work: Path
) -> tuple[dict[str, Any], Path]:
    """Build, check and time every int8 candidate; returns the report and the directory to
    ship: ``fp32_dir`` itself when no int8 form passes, else the one :func:`ship` makes
    from the int8 model of the form that ai_detector.pipeline.speed's rule picks."""
    metadata = ModelMetadata.load(fp32_dir)
    fp32_model = fp32_dir / metadata.model_file
    prepared = work / "model_prep.onnx"  # shape inference + graph optimisation first
    quant_pre_process(str(fp32_model), str(prepared))
    fp32_val = logits(fp32_dir, images.val)
    fp32_margin = logits(fp32_dir, images.margin)
    report: dict[str, Any] = {"int8": {}}
    files = {metadata.model_file: fp32_model}  # every file timed, by a name of its own
    int8_files: dict[str, str] = {}
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
        files[int8_model.name] = int8_model
        int8_files[name] = int8_model.name
        plain = _model_dir(work / name.replace("/", "_"), int8_model, metadata, f"int8-{name}")
        int8_val = logits(plain, images.val)
        result: dict[str, Any] = {
            "method": method,
            "float_convs": float_convs,
            **parity(fp32_val, int8_val, images.val_labels, metadata),
        }
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
            }
        log.info("int8 %s: %s", name, result)
        report["int8"][name] = result
    # Every form is timed, passed or not (the report shows what the gate cost); only
    # those that passed can be chosen.
    everything = timing_candidates(metadata.model_file, report, int8_files, None)
    speeds = measure(files, everything, images.val)
    report["latency_fp32"] = speeds[FP32].report()
    for name, result in report["int8"].items():
        result["latency"] = speeds[f"int8-{name}"].report()
        if "cascade" in result:
            result["cascade"]["latency"] = speeds[f"int8-{name}+fp32"].report()
    passing = timing_candidates(metadata.model_file, report, int8_files, params)
    default = choose(passing, speeds, params.tie_break, params.min_speedup)
    report["choice"] = {
        "tie_break": list(params.tie_break),
        "min_speedup": params.min_speedup,
        "within_spread_of_fastest": [c.name for c in within_spread(passing, speeds)],
        # Each candidate's cost over fp32's, round by round: 25th, 50th, 75th percentile.
        "cost_vs_fp32": {c.name: speeds[c.name].times(speeds[FP32]) for c in everything},
    }
    int8_forms = [c for c in passing if not is_fp32(c)]
    if not int8_forms:
        report["promoted"] = FP32
        return report, fp32_dir
    # The int8 model shipped beside fp32 (for a serving CPU where it pays) is the default's
    # own, or, when fp32 is the default here, the one the same rule picks among int8 forms.
    shipped_form = (
        choose(int8_forms, speeds, params.tie_break, params.min_speedup)
        if is_fp32(default)
        else default
    )
    name = shipped_form.name.removeprefix("int8-").removesuffix("+fp32")
    shipped = ship(
        work / "shipped",
        metadata,
        fp32_model,
        files[int8_files[name]],
        name,
        report["int8"][name],
        params,
        default.name,
    )
    report["promoted"] = ModelMetadata.load(shipped).precision
    report["shipped_candidates"] = [c.name for c in ModelMetadata.load(shipped).candidates]
    return report, shipped
