"""DVC stage ``generalise``: how the model does on origins and classes it never trained on.

    python -m ai_detector.pipeline.generalise [--model models/model]
        [--records data/prepared/records.csv] [--metrics metrics/generalise.json]
        [--detail metrics/generalise_detail.json]

- Leave-one-source-out: each origin group (``Record.origin``: a photo collection or a
  generator family, see configs/sources) is held out in turn; a probe is trained on the
  other groups' training split and scored on the whole held-out group. A group of one
  class is scored against the test split of the other class (never trained on), so each
  fold has a ROC-AUC. Headline: mean and minimum over the groups.
- CIFAKE leave-classes-out: the CIFAKE classes (the number in parentheses in the file
  name; ``N.jpg`` is class 1) are held out two at a time; accuracy on them.
- Evaluation-only sets (``generalise.eval_sources``), scored by the model itself: per
  set and per generator family. Fakes-only sets are scored against real test images,
  reals-only sets (camera originals) against fake ones, and at the model's threshold the
  share of real photos called not real is kept (``*_fpr``); faces against the
  ``face_reals`` group's test faces resized to ``face_sizes`` px. Each set again after
  both classes are re-encoded alike (long side ``reencode_long_side``, JPEG
  ``reencode_quality``: ai_detector.pipeline.eval_sets); headline ``reencode_diff``: the
  largest |re-encoded - clean| ROC-AUC.

The probe is cheap: the ``head`` recipe (head.fit_head with params.yaml's train settings)
on the model's own pooled features (the clean serving view, cached by
ai_detector.onnx_features). For a fine-tuned model the backbone saw every group while it
was tuned, so its leave-one-source-out figures are optimistic; for a ``head`` model the
backbone is ImageNet's and the figures are exact for the recipe.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ai_detector.inference.decision import softmax
from ai_detector.pipeline.data.records import REAL, Record, read_records
from ai_detector.pipeline.eval_sets import (
    Scorer,
    largest_reencode_diff,
    score_sets,
)
from ai_detector.pipeline.generalise_folds import (
    Probe,
    cifake_class,
    fit_probe,
    leave_classes_out,
    leave_one_source_out,
)
from ai_detector.pipeline.onnx_features import (
    FeatureExtractor,
    ImageBytes,
    bytes_transform,
    cached_run,
)
from ai_detector.pipeline.params import GeneraliseParams, Params, TrainParams
from ai_detector.pipeline.stage import MODEL, RECORDS, run_stage
from ai_detector.pipeline.tracking import log_artifacts, log_metrics

log = logging.getLogger(__name__)


def model_scorer(extractor: FeatureExtractor, cache: Path | None, batch_size: int) -> Scorer:
    """The model's own P(not real), from the same cached run that gives its features."""
    meta = extractor.metadata

    def fake_scores(records: list[Record], tag: str, image_bytes: ImageBytes | None) -> np.ndarray:
        transform = bytes_transform(image_bytes, extractor.spec)
        _, logits = cached_run(extractor, records, cache, batch_size, tag, transform)
        return 1.0 - softmax(logits, meta.temperature)[:, meta.real_index]

    return fake_scores


# reencode_diff: the largest |re-encoded - clean| ROC-AUC over the evaluation-only sets
# (each set's signed difference is in the detail); short, as `dvc metrics show` is wide.
METRIC_KEYS = ("loso_auc_mean", "loso_auc_min", "cifake_lco_acc", "reencode_diff")


def short_names(sets: dict[str, Any]) -> dict[str, str]:
    """Each set's name up to its first "-" (faces-t2i-sdxl-flux: faces), so that the
    headline stays narrow in `dvc metrics show`; the whole name where two would clash."""
    shorts = {name: name.split("-", 1)[0] for name in sets}
    clashes = {s for s in shorts.values() if list(shorts.values()).count(s) > 1}
    return {name: name if short in clashes else short for name, short in shorts.items()}


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def generalise(
    params: GeneraliseParams,
    train: TrainParams,
    model_dir: Path,
    records_path: Path,
    cache: Path | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(headline metrics, detail) for the model in ``model_dir``."""
    extractor = FeatureExtractor(model_dir, params.threads)
    # A linear head's steps are tiny: on 2 busy cores, 2 torch threads ran them 7x slower
    # than one (1.36 vs 0.19 s per epoch), so the probes fit on one thread; the caller's
    # setting comes back afterwards (a training run after this one needs its threads).
    with torch_threads(1):
        labels = extractor.metadata.labels
        records = [r for r in read_records(records_path) if r.label in labels]
        features, _ = cached_run(extractor, records, cache, params.batch_size)
        y = np.array([labels.index(r.label) for r in records])

        def probe(fit: np.ndarray, stop: np.ndarray) -> Probe:
            fitted = fit_probe(features, y, fit, stop, len(labels), labels.index(REAL), train)
            return lambda rows: fitted.fake_score(features[rows])

        loso = leave_one_source_out(records, y, labels.index(REAL), probe)
        cifake = [r for r in records if r.source == params.cifake_source]
        lco = leave_classes_out(
            records, y, labels.index(REAL), probe, params.cifake_source, params.cifake_holdout
        )
        test = [r for r in records if r.split == "test"]
        scorer = model_scorer(extractor, cache, params.batch_size)
        sets = score_sets(scorer, params, test, extractor.metadata.fake_threshold)
        aucs = [fold["roc_auc"] for fold in loso.values()]
        accuracies = [fold["accuracy"] for fold in lco.values()]
        headline = {
            "loso_auc_mean": float(np.mean(aucs)),
            "loso_auc_min": float(np.min(aucs)),
            "cifake_lco_acc": float(np.mean(accuracies)) if accuracies else None,
            **{f"{short}_auc": sets[name]["roc_auc"] for name, short in short_names(sets).items()},
            # Real photos called not real, for the sets that hold real photos.
            **{
                f"{short}_fpr": sets[name]["false_positive_rate"]
                for name, short in short_names(sets).items()
                if sets[name]["false_positive_rate"] is not None
            },
            "reencode_diff": largest_reencode_diff(sets),
        }
        detail = {
            "model_version": extractor.metadata.version,
            "probe": (
                "head recipe (head.fit_head: linear, AdamW, cosine, class weights, early stop; "
                f"lr {train.lr}, weight decay {train.weight_decay}, {train.epochs} epochs, "
                f"patience {train.patience}) on the model's pooled fp32 features, clean view"
            ),
            "headline": headline,
            "leave_one_source_out": loso,
            "cifake_leave_classes_out": lco,
            "cifake_classes": sorted({cifake_class(r.path) for r in cifake}),
            "evaluation_sets": sets,
            "reencoded": (
                f"both classes resized to a long side of {params.reencode_long_side} px and "
                f"saved as JPEG q{params.reencode_quality}, then scored from those bytes"
            ),
        }
        return headline, detail


def main(argv: list[str] | None = None) -> int:
    paths = {
        "model": MODEL,
        "records": RECORDS,
        "metrics": "metrics/generalise.json",
        "detail": "metrics/generalise_detail.json",
        "cache": "data/features",
    }
    return run_stage("generalise", __doc__, _run, argv, paths)


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    headline, detail = generalise(
        params.generalise, params.train, args.model, args.records, args.cache
    )
    # The DVC metric holds the figures a model is judged by; the evaluation-only sets'
    # ROC-AUCs (in the detail's headline, the card and the printout) would widen
    # `dvc metrics show` past 200 columns.
    metric = {key: headline[key] for key in METRIC_KEYS}
    for path, content in ((args.metrics, metric), (args.detail, detail)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content, indent=2) + "\n")
    log_metrics(mlflow, headline)
    log_artifacts(mlflow, args.metrics, args.detail)
    # The stage's intended output: the figures, in the terminal that ran `dvc repro`.
    print("generalisation:", json.dumps({k: _round(v) for k, v in headline.items()}))
    for group, fold in detail["leave_one_source_out"].items():
        print(f"  held out {group:28s} n={fold['n']:6d}  ROC-AUC {_round(fold['roc_auc'])}")
    for name, entry in detail["evaluation_sets"].items():
        log.info(
            "%s: ROC-AUC clean %s, re-encoded %s (%s)",
            name,
            _round(entry["roc_auc"]),
            _round(entry["roc_auc_reencoded"]),
            detail["reencoded"],
        )


def _round(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


if __name__ == "__main__":
    raise SystemExit(main())
