"""DVC stage ``evaluate``: measure the exported model on the held-out test split.

    python -m ai_detector.pipeline.evaluate [--model models/model]
        [--records data/prepared/records.csv] [--export metrics/export.json]
        [--metrics metrics/evaluate.json] [--headline metrics/headline.json] [--plots plots]

It runs the shipped artefact through :class:`~ai_detector.inference.predictor.Predictor`, the
exact path the server takes, so the figures are those users get. Besides the
overall metrics it reports each source on its own and a robustness table: the same
metrics after JPEG quality 50, a resize to half and a centre crop, with the drop.
Plots for ``dvc plots show``: confusion matrix, ROC and PR points. ``--headline`` gets
the few figures ``dvc metrics show`` prints (with the export stage's latency);
``--metrics`` the whole detail.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sklearn.metrics import precision_recall_curve, roc_curve

from ai_detector.inference.decision import decide
from ai_detector.inference.precision import EXPORTED
from ai_detector.inference.predictor import Predictor
from ai_detector.inference.preprocess import decode_image, preprocess_bytes
from ai_detector.pipeline.data.encoding import jpeg_bytes
from ai_detector.pipeline.data.records import Record, read_records
from ai_detector.pipeline.metrics import classification_report
from ai_detector.pipeline.params import EvaluateParams, Params
from ai_detector.pipeline.stage import EVALUATION, EXPORT_REPORT, MODEL, RECORDS, run_stage
from ai_detector.pipeline.tracking import log_artifacts, log_metrics

log = logging.getLogger(__name__)


def perturbations(params: EvaluateParams) -> dict[str, Callable[[bytes], bytes]]:
    def jpeg(data: bytes) -> bytes:
        return jpeg_bytes(decode_image(data), params.jpeg_quality)

    def half(data: bytes) -> bytes:
        image = decode_image(data)
        return jpeg_bytes(
            image.resize(
                (max(16, image.width // 2), max(16, image.height // 2)), Image.Resampling.BILINEAR
            )
        )

    def crop(data: bytes) -> bytes:
        image = decode_image(data)
        w, h = image.size
        return jpeg_bytes(image.crop((w // 5, h // 5, w - w // 5, h - h // 5)))

    return {
        "clean": lambda data: data,
        f"jpeg_q{params.jpeg_quality}": jpeg,
        "resize_half": half,
        "crop_center_60": crop,
    }


def score(
    predictor: Predictor,
    records: list[Record],
    transform: Callable[[bytes], bytes],
    batch_size: int,
    draft: bool = True,
) -> np.ndarray:
    chunks = []
    for start in range(0, len(records), batch_size):
        batch = [
            preprocess_bytes(transform(r.read_bytes()), predictor.spec, draft=draft)
            for r in records[start : start + batch_size]
        ]
        chunks.append(predictor.probabilities(np.stack(batch)))
    return np.concatenate(chunks)


def draft_shortcut(
    predictor: Predictor, records: list[Record], batch_size: int, served: np.ndarray
) -> dict[str, float]:
    """How far the JPEG draft decoding (what the server does) moves predictions from a
    full decode of the same files."""
    full = score(predictor, records, lambda data: data, batch_size, draft=False)
    meta = predictor.metadata
    return {
        "label_agreement": float((decide(full, meta) == decide(served, meta)).mean()),
        "max_probability_difference": float(np.abs(full - served).max()),
        "mean_probability_difference": float(np.abs(full - served).mean()),
    }


def write_plots(
    plots: Path,
    probabilities: np.ndarray,
    predicted: np.ndarray,
    labels: np.ndarray,
    names: tuple[str, ...],
    real: int,
) -> None:
    plots.mkdir(parents=True, exist_ok=True)
    with (plots / "confusion.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["actual", "predicted"])
        writer.writerows((names[a], names[p]) for a, p in zip(labels, predicted, strict=True))
    fake_score = 1.0 - probabilities[:, real]
    is_fake = labels != real
    if 0 < is_fake.sum() < len(is_fake):
        fpr, tpr, _ = roc_curve(is_fake, fake_score)
        (plots / "roc.json").write_text(
            json.dumps(
                {"roc": [{"fpr": float(f), "tpr": float(t)} for f, t in zip(fpr, tpr, strict=True)]}
            )
        )
        precision, recall, _ = precision_recall_curve(is_fake, fake_score)
        (plots / "pr.json").write_text(
            json.dumps(
                {
                    "pr": [
                        {"recall": float(r), "precision": float(p)}
                        for p, r in zip(precision, recall, strict=True)
                    ]
                }
            )
        )


def evaluate(
    params: EvaluateParams, model_dir: Path, records_path: Path, plots: Path | None
) -> dict[str, Any]:
    # The exported candidate, not the one timed fastest here: the figures must not depend
    # on the CPU that evaluates (every candidate that may run passed the parity gate).
    predictor = Predictor(model_dir, precision=EXPORTED)
    meta = predictor.metadata
    records = [r for r in read_records(records_path, "test") if r.label in meta.labels]
    if not records:
        raise ValueError(f"{records_path} has no test records with labels {meta.labels}")
    index = {label: i for i, label in enumerate(meta.labels)}
    labels = np.array([index[r.label] for r in records])
    results: dict[str, Any] = {
        "model_version": meta.version,
        "precision": predictor.candidate.name,
        "threshold": meta.fake_threshold,
    }
    robustness = {}
    for name, transform in perturbations(params).items():
        probabilities = score(predictor, records, transform, params.batch_size)
        predicted = decide(probabilities, meta)
        report = classification_report(
            probabilities, predicted, labels, meta.labels, meta.real_index
        )
        robustness[name] = {
            k: report[k] for k in ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc_fake")
        }
        if name == "clean":
            served = probabilities
            results["test"] = report
            sources = sorted({r.source for r in records})
            results["per_source"] = {
                source: classification_report(
                    probabilities[mask], predicted[mask], labels[mask], meta.labels, meta.real_index
                )
                for source in sources
                if (mask := np.array([r.source == source for r in records])).any()
            }
            if plots:
                write_plots(plots, probabilities, predicted, labels, meta.labels, meta.real_index)
    clean = robustness["clean"]
    for row in robustness.values():
        row["macro_f1_drop"] = clean["macro_f1"] - row["macro_f1"]
    results["robustness"] = robustness
    results["draft_shortcut"] = draft_shortcut(predictor, records, params.batch_size, served)
    log.info(
        "test: accuracy %.4f, balanced %.4f, macro F1 %.4f, ROC-AUC %s",
        clean["accuracy"],
        clean["balanced_accuracy"],
        clean["macro_f1"],
        clean["roc_auc_fake"],
    )
    return results


def main(argv: list[str] | None = None) -> int:
    paths = {"model": MODEL, "records": RECORDS, "export": EXPORT_REPORT, "metrics": EVALUATION}
    paths |= {"headline": "metrics/headline.json", "plots": "plots"}
    return run_stage("evaluate", __doc__, _run, argv, paths)


def headline(results: dict[str, Any], export_report: dict[str, Any]) -> dict[str, Any]:
    """The few figures `dvc metrics show` prints: test quality, the shipped precision and
    its latency (batch 1, from the export stage's measurement)."""
    test = results["test"]
    return {
        "accuracy": test["accuracy"],
        "balanced_accuracy": test["balanced_accuracy"],
        "macro_f1": test["macro_f1"],
        "roc_auc": test["roc_auc_fake"],
        "ece": test["ece"],
        "precision": results["precision"],
        "latency_ms": promoted_latency_ms(export_report),
    }


def promoted_latency_ms(report: dict[str, Any]) -> float:
    """Batch-1 latency of the candidate the export stage promoted, from its report."""
    promoted = report["promoted"]
    if promoted == "fp32":
        return float(report["latency_fp32"]["batch1_ms"])
    name = promoted.removeprefix("int8-").removesuffix("+fp32")
    entry = report["int8"][name]
    timed = entry["cascade"] if promoted.endswith("+fp32") else entry
    return float(timed["latency"]["batch1_ms"])


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    results = evaluate(params.evaluate, args.model, args.records, args.plots)
    export_report = json.loads(args.export.read_text())
    for path, values in (
        (args.metrics, results),
        (args.headline, headline(results, export_report)),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2) + "\n")
    log_metrics(mlflow, {"test": results["test"], "robustness": results["robustness"]})
    log_artifacts(mlflow, args.metrics, args.plots)


if __name__ == "__main__":
    raise SystemExit(main())
