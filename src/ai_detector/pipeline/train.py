"""DVC stage ``train``: fine-tune EfficientNet-Lite0 into a real/fake classifier.

    python -m ai_detector.pipeline.train [--params params.yaml]
        [--records data/prepared/records.csv] [--out models] [--cache data/features]
        [--teacher data/teacher]

Recipe ``head`` (the fast CPU recipe): the ImageNet backbone is frozen, its pooled
features are computed once per image view (the clean serving view plus
``augment_views`` random augmentations for training images) and a linear head is
trained on them with AdamW, a cosine schedule, class weights and early stopping on
validation loss (ai_detector.pipeline.head). Recipe ``finetune`` then trains the last
backbone stages too (ai_detector.pipeline.finetune). Then the temperature and the fake
threshold are fitted on validation. Writes ``checkpoint.pt`` (weights + metadata) and
``train_metrics.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ai_detector.inference.decision import softmax
from ai_detector.inference.metadata import ModelMetadata
from ai_detector.pipeline.backbone import BACKBONE, backbone_image_spec
from ai_detector.pipeline.calibration import choose_threshold, fit_temperature
from ai_detector.pipeline.data.records import ordered_labels, read_records
from ai_detector.pipeline.distil import teacher_targets
from ai_detector.pipeline.finetune import SoftTargets, finetune
from ai_detector.pipeline.head import cached_features, fit_head
from ai_detector.pipeline.model import DetectorNet
from ai_detector.pipeline.params import Params, TrainParams
from ai_detector.pipeline.stage import RECORDS, TEACHER, optional_path, run_stage
from ai_detector.pipeline.tracking import log_artifacts, log_metrics

log = logging.getLogger(__name__)

RECIPES = ("head", "finetune")


def train(
    params: TrainParams,
    records_path: Path,
    out_dir: Path,
    cache_dir: Path | None = None,
    soft_targets: SoftTargets | None = None,
) -> dict[str, Any]:
    """Train by ``params.recipe``; ``soft_targets`` (sha256 -> a probability per label, in
    the order of ordered_labels) replace the training labels in the fine-tune."""
    if params.recipe not in RECIPES:
        raise ValueError(f"train.recipe must be one of {RECIPES}, got {params.recipe!r}")
    if soft_targets is not None and params.recipe != "finetune":
        raise ValueError("soft targets are learnt by the finetune recipe only")
    random.seed(params.seed)
    np.random.seed(params.seed)
    torch.manual_seed(params.seed)
    train_records = read_records(records_path, "train")
    val_records = read_records(records_path, "val")
    if not train_records or not val_records:
        raise ValueError(f"{records_path} needs train and val records")
    labels = ordered_labels({r.label for r in train_records})
    index = {label: i for i, label in enumerate(labels)}
    spec = backbone_image_spec()
    model = DetectorNet(len(labels), taps=params.taps).eval().to(memory_format=torch.channels_last)
    views = 1 + params.augment_views
    train_raw = cached_features(model, train_records, spec, params.augment_views, params, cache_dir)
    val_raw = cached_features(model, val_records, spec, 0, params, cache_dir)
    model.set_feature_statistics(torch.from_numpy(train_raw))
    mean, std = model.feature_mean.numpy(), model.feature_std.numpy()
    train_x, val_x = (train_raw - mean) / std, (val_raw - mean) / std
    train_y = np.repeat([index[r.label] for r in train_records], views).astype(np.int64)
    val_y = np.array([index[r.label] for r in val_records], dtype=np.int64)
    head, history = fit_head(train_x, train_y, val_x, val_y, len(labels), params)
    with torch.no_grad():
        val_logits = head(torch.from_numpy(val_x)).numpy()
    model.classifier.load_state_dict(head.state_dict())
    model.fold_standardization()
    if params.recipe == "finetune":
        tuned = finetune(model, train_records, val_records, index, params, soft_targets)
        val_logits = tuned.pop("val_logits")
        history |= tuned
    temperature = fit_temperature(val_logits, val_y)
    metadata = ModelMetadata(
        labels=labels,
        version=params.version,
        backbone=BACKBONE,
        **dataclasses.asdict(spec),
        temperature=temperature,
        extra={"architecture": {"taps": list(params.taps)}, "recipe": params.recipe}
        # Only a taught model says so: one taught by nothing keeps the metadata it always had.
        | ({} if soft_targets is None else {"teacher_weight": params.teacher_weight}),
    )
    threshold = choose_threshold(
        softmax(val_logits, temperature),
        val_y,
        metadata.real_index,
        params.threshold_policy,
        params.recall_target,
    )
    metadata = metadata.replace(fake_threshold=threshold)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"state_dict": model.state_dict(), "metadata": metadata.to_dict()},
        out_dir / "checkpoint.pt",
    )
    val_accuracy = float((softmax(val_logits, temperature).argmax(1) == val_y).mean())
    metrics = {
        **history,
        "temperature": temperature,
        "fake_threshold": threshold,
        "val_accuracy_argmax": val_accuracy,
        "n_train": len(train_records),
        "n_val": len(val_records),
        "labels": list(labels),
    }
    (out_dir / "train_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("trained head: %s", metrics)
    return metrics


def main(argv: list[str] | None = None) -> int:
    # --cache: the feature cache; --cache '' turns it off.
    paths = {"records": RECORDS, "out": "models", "cache": "data/features", "teacher": TEACHER}
    return run_stage("train", __doc__, _run, argv, paths)


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    cache = optional_path(args.cache)
    targets = teacher_targets(read_records(args.records), args.teacher, params.train)
    metrics = train(params.train, args.records, args.out, cache, soft_targets=targets)
    log_metrics(mlflow, metrics)
    log_artifacts(mlflow, args.out / "train_metrics.json")


if __name__ == "__main__":
    raise SystemExit(main())
