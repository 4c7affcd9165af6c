"""DVC stage ``logo``: true leave-one-generator-out, the backbone tuned without the group.

    python -m ai_detector.pipeline.logo [--params params.yaml]
        [--records data/prepared/records.csv] [--metrics metrics/logo.json]
        [--detail metrics/logo_detail.json] [--cache data/features] [--teacher data/teacher]

(or ``dvc repro logo``). For each fold of ``logo.holdout`` (origin names, ``Record.origin``,
held out together):

1. every record of those origins is dropped, from every split;
2. the train stage's own ``train()`` trains on the rest with params.yaml's ``train``
   section, except ``finetune_epochs`` (``logo.finetune_epochs``): with the ``finetune``
   recipe the backbone learns without ever seeing the held-out group, and with
   ``train.teacher_weight`` > 0 so does the CLIP teacher whose opinion it learns from
   (its heads are fitted on the fold's own records, ai_detector.pipeline.distil);
3. the export stage's own ``export()`` writes its fp32 ONNX model (no int8);
4. the inference core's Predictor scores every record of the held-out origins from its
   bytes. ROC-AUC of P(not real): on them alone when they hold both classes, else against
   the other class's test records of the other origins, which no fold trains on; and
   accuracy at the fold model's own fitted threshold, on each side.

The generalise stage's leave-one-source-out probes refit a head on a backbone that saw
every group, so they are an upper bound; these folds are what the recipe does on a
generator it never saw. ``metrics/logo.json`` (a DVC metric) holds the mean and minimum
ROC-AUC over the folds, ``metrics/logo_detail.json`` every fold (counts, timings). Each
fold trains in a temporary folder, removed afterwards; the head's ImageNet features come
from the train stage's cache (``--cache``), as they do not depend on the held-out group.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ai_detector.inference.decision import decide
from ai_detector.inference.predictor import Predictor
from ai_detector.pipeline.data.records import REAL, Record, read_records, write_records
from ai_detector.pipeline.distil import teacher_targets
from ai_detector.pipeline.export import export
from ai_detector.pipeline.generalise_folds import auc
from ai_detector.pipeline.params import Params
from ai_detector.pipeline.stage import RECORDS, TEACHER, optional_path, run_stage
from ai_detector.pipeline.tracking import flatten, log_artifacts, log_metrics
from ai_detector.pipeline.train import train

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Fold:
    """One fold's records: what may be trained on, what is held out, what it is scored against."""

    origins: tuple[str, ...]
    kept: list[Record]
    held: list[Record]
    against: list[Record]
    against_name: str


def make_fold(records: Sequence[Record], origins: Sequence[str]) -> Fold:
    """Split ``records`` for a fold holding ``origins`` out (every split of them)."""
    known = {r.origin for r in records}
    unknown = sorted(set(origins) - known)
    if unknown:
        raise ValueError(
            f"logo.holdout: no record has origin {unknown}; the origins in the records are "
            f"{sorted(known)}"
        )
    held = [r for r in records if r.origin in origins]
    kept = [r for r in records if r.origin not in origins]
    fakes = {r.label != REAL for r in held}
    if len(fakes) == 2:
        against, name = [], "itself (both classes)"
    else:
        # One class held out: the other class's test records of the other origins.
        wanted = not fakes.pop()
        against = [r for r in kept if r.split == "test" and (r.label != REAL) == wanted]
        name = f"test {'fakes' if wanted else 'reals'} of the other origins"
    for split in ("train", "val"):
        labels = {r.label != REAL for r in kept if r.split == split}
        if labels != {False, True}:
            raise ValueError(
                f"logo fold {list(origins)}: without it the {split} split lacks reals or fakes"
            )
    return Fold(tuple(origins), kept, held, against, name)


def score_records(
    predictor: Predictor, records: Sequence[Record], batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """P(not real) and the model's verdict (True: a fake label) for each record, from its
    bytes through the Predictor's preprocessing and model, batch by batch."""
    meta = predictor.metadata
    scores, verdicts = [], []
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        batch = np.stack([predictor.preprocess(r.read_bytes()) for r in chunk])
        probabilities = predictor.probabilities(batch)
        scores.append(1.0 - probabilities[:, meta.real_index])
        verdicts.append(decide(probabilities, meta) != meta.real_index)
    if not scores:
        return np.zeros(0), np.zeros(0, bool)
    return np.concatenate(scores), np.concatenate(verdicts)


def auc_by_origin(
    held_fake: np.ndarray,
    held_scores: np.ndarray,
    against: Sequence[Record],
    against_scores: np.ndarray,
) -> dict[str, float | None]:
    """ROC-AUC of the held-out records against each origin of ``against`` on its own: it
    tells an unseen generator from a content bias (GAN faces against real faces only, or
    against every real photo)."""
    origins = np.array([r.origin for r in against])
    is_fake = np.array([r.label != REAL for r in against], bool)
    return {
        origin: auc(
            np.r_[held_fake, is_fake[origins == origin]],
            np.r_[held_scores, against_scores[origins == origin]],
        )
        for origin in sorted(set(origins.tolist()))
    }


def run_fold(fold: Fold, params: Params, cache: Path | None, teacher: Path) -> dict[str, Any]:
    """Train, export and score one fold in a temporary folder."""
    tuned = dataclasses.replace(params.train, finetune_epochs=params.logo.finetune_epochs)
    with tempfile.TemporaryDirectory(prefix="logo-") as folder:
        work = Path(folder)
        write_records(fold.kept, work / "records.csv")
        started = time.perf_counter()
        targets = teacher_targets(fold.kept, teacher, tuned)
        trained = train(tuned, work / "records.csv", work, cache, soft_targets=targets)
        train_seconds = time.perf_counter() - started
        started = time.perf_counter()
        exported = export(
            dataclasses.replace(params.export, quantize=False),
            work / "checkpoint.pt",
            work / "records.csv",
            work / "model",
        )
        export_seconds = time.perf_counter() - started
        predictor = Predictor(work / "model", threads=params.logo.threads, precision="exported")
        batch = params.logo.batch_size
        held_scores, held_fake = score_records(predictor, fold.held, batch)
        against_scores, against_fake = score_records(predictor, fold.against, batch)
    is_fake = np.array([r.label != REAL for r in fold.held + fold.against], bool)
    own, other = is_fake[: len(fold.held)], is_fake[len(fold.held) :]
    return {
        "held_out": list(fold.origins),
        "n": len(fold.held),
        "n_fake": int(own.sum()),
        "scored_against": fold.against_name,
        "n_against": len(fold.against),
        "roc_auc": auc(is_fake, np.r_[held_scores, against_scores]),
        "roc_auc_by_against_origin": auc_by_origin(own, held_scores, fold.against, against_scores),
        # At the fold model's own threshold (fitted on its validation split).
        "accuracy": float((held_fake == own).mean()),
        "accuracy_against": float((against_fake == other).mean()) if len(other) else None,
        "fake_threshold": predictor.metadata.fake_threshold,
        "n_train": trained["n_train"],
        "n_val": trained["n_val"],
        "recipe": params.train.recipe,
        "finetune_epochs": tuned.finetune_epochs,
        "teacher_weight": tuned.teacher_weight,
        "finetune_best_epoch": trained.get("finetune_best_epoch"),
        "train_seconds": round(train_seconds, 1),
        "export_seconds": round(export_seconds, 1),
        "fp32_vs_torch_max_diff": exported["fp32_vs_torch_max_diff"],
    }


def logo(
    params: Params, records_path: Path, cache: Path | None, teacher: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(headline, detail) over ``params.logo.holdout``; every fold is checked first."""
    records = read_records(records_path)
    folds = [make_fold(records, origins) for origins in params.logo.holdout]
    results: dict[str, Any] = {}
    for fold in folds:
        name = "+".join(fold.origins)
        log.info(
            "fold %s: %d held out, training on %d records", name, len(fold.held), len(fold.kept)
        )
        results[name] = run_fold(fold, params, cache, teacher)
        log.info("fold %s: %s", name, json.dumps(results[name]))
    aucs = [f["roc_auc"] for f in results.values() if f["roc_auc"] is not None]
    headline = {
        "logo_mean": float(np.mean(aucs)) if aucs else None,
        "logo_min": float(np.min(aucs)) if aucs else None,
    }
    detail = {
        "headline": headline,
        "how": (
            f"per fold: the records of its origins dropped from every split, train.train() "
            f"({params.train.recipe} recipe, {params.logo.finetune_epochs} fine-tune epochs, "
            f"teacher weight {params.train.teacher_weight}, the teacher fitted without the fold, "
            f"the train section otherwise), export.export() fp32, scored by the Predictor; "
            f"train_seconds is the whole train() call, head features read from the cache "
            f"where the train stage left them"
        ),
        "folds": results,
    }
    return headline, detail


def main(argv: list[str] | None = None) -> int:
    paths = {
        "records": RECORDS,
        "metrics": "metrics/logo.json",
        "detail": "metrics/logo_detail.json",
        "cache": "data/features",
        "teacher": TEACHER,
    }
    return run_stage("logo", __doc__, _run, argv, paths)


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    cache = optional_path(args.cache)
    if mlflow is not None:  # the folds train with these too
        values = flatten(dataclasses.asdict(params.train), "train.")
        mlflow.log_params({k: str(v) for k, v in values.items()})
    headline, detail = logo(params, args.records, cache, args.teacher)
    for path, content in ((args.metrics, headline), (args.detail, detail)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n")
    # MLflow names allow letters, digits and _-./ only: "a+b" becomes "a_b".
    folds = {re.sub(r"[^\w\-./]", "_", k): v for k, v in detail["folds"].items()}
    log_metrics(mlflow, {**headline, "folds": folds})
    log_artifacts(mlflow, args.metrics, args.detail)
    for name, fold in detail["folds"].items():
        log.info(
            "held out %s: ROC-AUC %s against %s (n %d, against %d), accuracy %.3f, trained %.0f s",
            name,
            fold["roc_auc"],
            fold["scored_against"],
            fold["n"],
            fold["n_against"],
            fold["accuracy"],
            fold["train_seconds"],
        )


if __name__ == "__main__":
    raise SystemExit(main())
