"""DVC stage ``train``: fine-tune EfficientNet-Lite0 into a real/fake classifier.

    python -m ai_detector.pipeline.train [--params params.yaml]
        [--records data/prepared/records.csv] [--out models] [--cache data/features]

Recipe ``head`` (the fast CPU recipe): the ImageNet backbone is frozen, its pooled
features are computed once per image view (the clean serving view plus
``augment_views`` random augmentations for training images) and a linear head is
trained on them with AdamW, a cosine schedule, class weights and early stopping on
validation loss. Then the temperature and the fake threshold are fitted on
validation. Writes ``checkpoint.pt`` (weights + metadata) and ``train_metrics.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ai_detector.inference.decision import softmax
from ai_detector.inference.metadata import ImageSpec, ModelMetadata
from ai_detector.inference.preprocess import decode_image, preprocess_image
from ai_detector.pipeline.augment import augment
from ai_detector.pipeline.backbone import BACKBONE, backbone_image_spec
from ai_detector.pipeline.calibration import choose_threshold, fit_temperature
from ai_detector.pipeline.data.records import Record, ordered_labels, read_records
from ai_detector.pipeline.model import DetectorNet
from ai_detector.pipeline.params import Params, TrainParams
from ai_detector.pipeline.stage import RECORDS, optional_path, run_stage
from ai_detector.pipeline.tracking import log_artifacts, log_metrics

log = logging.getLogger(__name__)

RECIPES = ("head", "finetune")


def image_views(
    records: list[Record], spec: ImageSpec, views: int, params: TrainParams
) -> Iterator[np.ndarray]:
    """For each record: its serving view, then ``views`` augmented ones.

    Each image draws its augmentations from its own seed (run seed + image hash), so
    an image's views do not depend on which other images are in the run.
    """
    for record in records:
        image = decode_image(record.read_bytes(), draft_size=spec.resize_size)
        yield preprocess_image(image, spec)
        rng = random.Random(f"{params.seed}-{record.sha256}")
        for _ in range(views):
            yield augment(image, spec, rng, params)


@torch.inference_mode()
def extract_features(
    model: DetectorNet, arrays: Iterator[np.ndarray], total: int, batch_size: int
) -> np.ndarray:
    """Pooled backbone features (pre-logits) for every array, in batches."""
    chunks, batch = [], []
    progress = tqdm(total=total, desc="features", unit="img", mininterval=5)
    for array in arrays:
        batch.append(array)
        if len(batch) == batch_size:
            chunks.append(_features(model, batch))
            progress.update(len(batch))
            batch = []
    if batch:
        chunks.append(_features(model, batch))
        progress.update(len(batch))
    progress.close()
    return np.concatenate(chunks)


def _features(model: DetectorNet, batch: list[np.ndarray]) -> np.ndarray:
    x = torch.from_numpy(np.stack(batch)).contiguous(memory_format=torch.channels_last)
    return model.features(x).numpy()


def cached_features(
    model: DetectorNet,
    records: list[Record],
    spec: ImageSpec,
    views: int,
    params: TrainParams,
    cache_dir: Path | None,
) -> np.ndarray:
    """Raw features (len(records) * (1 + views), D), computed once per image and setting.

    Features are cached per image under a folder named by everything that changes
    them (augmentation settings, taps, sizes, seed), so adding images to a data set
    only computes the new ones and a cached file is never stale.
    """
    settings = json.dumps(
        [
            views,
            params.seed,
            params.jpeg_quality,
            params.blur_probability,
            params.noise_probability,
            params.reshare_probability,
            list(params.reencode_formats),
            list(params.rescale),
            list(model.taps),
            spec.input_size,
            spec.resize_size,
            spec.interpolation,
        ]
    )
    folder = cache_dir / hashlib.sha256(settings.encode()).hexdigest()[:16] if cache_dir else None
    cached = {r.sha256: folder / f"{r.sha256}.npy" for r in records} if folder else {}
    missing = [r for r in records if not (folder and cached[r.sha256].is_file())]
    if missing:
        arrays = image_views(missing, spec, views, params)
        computed = extract_features(model, arrays, len(missing) * (1 + views), params.batch_size)
        fresh = dict(
            zip([r.sha256 for r in missing], np.split(computed, len(missing)), strict=True)
        )
        if folder:
            folder.mkdir(parents=True, exist_ok=True)
            for sha, features in fresh.items():
                np.save(cached[sha], features)
    else:
        fresh = {}
    log.info(
        "features: %d images computed, %d from cache", len(missing), len(records) - len(missing)
    )
    return np.concatenate(
        [fresh[r.sha256] if r.sha256 in fresh else np.load(cached[r.sha256]) for r in records]
    )


def fit_head(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    n_classes: int,
    params: TrainParams,
) -> tuple[torch.nn.Linear, dict[str, Any]]:
    """A linear head trained with AdamW + cosine schedule, class weights, early stopping."""
    torch.manual_seed(params.seed)
    head = torch.nn.Linear(train_x.shape[1], n_classes)
    counts = np.bincount(train_y, minlength=n_classes).astype(np.float32)
    weights = torch.tensor(counts.sum() / (n_classes * np.maximum(counts, 1)))
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.AdamW(head.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=params.epochs)
    xt, yt = torch.from_numpy(train_x), torch.from_numpy(train_y)
    xv, yv = torch.from_numpy(val_x), torch.from_numpy(val_y)
    val_loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    best: dict[str, Any] = {"loss": float("inf"), "epoch": -1, "state": None}
    generator = torch.Generator().manual_seed(params.seed)
    for epoch in range(params.epochs):
        head.train()
        for index in torch.randperm(len(xt), generator=generator).split(params.batch_size):
            optimizer.zero_grad()
            loss_fn(head(xt[index]), yt[index]).backward()
            optimizer.step()
        scheduler.step()
        head.eval()
        with torch.no_grad():
            val_loss = float(val_loss_fn(head(xv), yv))
        if val_loss < best["loss"] - 1e-4:
            best = {
                "loss": val_loss,
                "epoch": epoch,
                "state": {k: v.clone() for k, v in head.state_dict().items()},
            }
        elif epoch - best["epoch"] >= params.patience:
            log.info(
                "early stop at epoch %d (best %d, val loss %.4f)",
                epoch,
                best["epoch"],
                best["loss"],
            )
            break
    head.load_state_dict(best["state"])
    return head, {"best_epoch": best["epoch"], "val_loss": best["loss"]}


def train(
    params: TrainParams, records_path: Path, out_dir: Path, cache_dir: Path | None = None
) -> dict[str, Any]:
    if params.recipe not in RECIPES:
        raise ValueError(f"train.recipe must be one of {RECIPES}, got {params.recipe!r}")
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
        from ai_detector.pipeline.finetune import finetune

        tuned = finetune(model, train_records, val_records, index, params)
        val_logits = tuned.pop("val_logits")
        history |= tuned
    temperature = fit_temperature(val_logits, val_y)
    metadata = ModelMetadata(
        labels=labels,
        version=params.version,
        backbone=BACKBONE,
        **dataclasses.asdict(spec),
        temperature=temperature,
        extra={"architecture": {"taps": list(params.taps)}, "recipe": params.recipe},
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
    paths = {"records": RECORDS, "out": "models", "cache": "data/features"}
    return run_stage("train", __doc__, _run, argv, paths)


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    cache = optional_path(args.cache)
    metrics = train(params.train, args.records, args.out, cache)
    log_metrics(mlflow, metrics)
    log_artifacts(mlflow, args.out / "train_metrics.json")


if __name__ == "__main__":
    raise SystemExit(main())
