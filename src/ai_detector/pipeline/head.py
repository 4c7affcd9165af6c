"""The ``head`` recipe's parts: frozen-backbone features per image view, cached, and a
linear head fitted on them.

    from ai_detector.pipeline.head import cached_features, fit_head

Used by the train stage (both recipes start with the head), the leave-one-source-out
probes (generalise_folds) and the recipe comparisons.
"""

from __future__ import annotations

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

from ai_detector.inference.metadata import ImageSpec
from ai_detector.inference.preprocess import decode_image, preprocess_image
from ai_detector.pipeline.augment import augment
from ai_detector.pipeline.data.records import Record
from ai_detector.pipeline.model import DetectorNet
from ai_detector.pipeline.params import TrainParams

log = logging.getLogger(__name__)


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
