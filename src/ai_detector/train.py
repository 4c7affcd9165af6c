"""DVC stage ``train``: fine-tune EfficientNet-Lite0 into a real/fake classifier.

    python -m ai_detector.train [--params params.yaml] [--records data/prepared/records.csv] [--out models]

Recipe ``head`` (the fast CPU recipe): the ImageNet backbone is frozen, its pooled
features are computed once per image view (the clean serving view plus
``augment_views`` random augmentations for training images) and a linear head is
trained on them with AdamW, a cosine schedule, class weights and early stopping on
validation loss. Then the temperature and the fake threshold are fitted on
validation. Writes ``checkpoint.pt`` (weights + metadata) and ``train_metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ai_detector.augment import augment
from ai_detector.backbone import BACKBONE, create_backbone
from ai_detector.calibration import choose_threshold, fit_temperature
from ai_detector.data.records import Record, ordered_labels, read_records
from ai_detector.metadata import ModelMetadata
from ai_detector.params import TrainParams, load_params
from ai_detector.predictor import softmax
from ai_detector.preprocess import ImageSpec, decode_image, preprocess_image

log = logging.getLogger(__name__)


def image_views(records: list[Record], spec: ImageSpec, views: int, params: TrainParams, seed: int) -> Iterator[np.ndarray]:
    """For each record: its serving view, then ``views`` augmented ones."""
    rng = random.Random(seed)
    for record in records:
        image = decode_image(record.read_bytes(), draft_size=spec.resize_size)
        yield preprocess_image(image, spec)
        for _ in range(views):
            yield augment(image, spec, rng, params.jpeg_quality, params.blur_probability)


@torch.inference_mode()
def extract_features(model: torch.nn.Module, arrays: Iterator[np.ndarray], total: int, batch_size: int) -> np.ndarray:
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


def _features(model: torch.nn.Module, batch: list[np.ndarray]) -> np.ndarray:
    x = torch.from_numpy(np.stack(batch)).contiguous(memory_format=torch.channels_last)
    return model.forward_head(model.forward_features(x), pre_logits=True).numpy()


def fit_head(
    train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray, n_classes: int, params: TrainParams
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
            best = {"loss": val_loss, "epoch": epoch, "state": {k: v.clone() for k, v in head.state_dict().items()}}
        elif epoch - best["epoch"] >= params.patience:
            log.info("early stop at epoch %d (best %d, val loss %.4f)", epoch, best["epoch"], best["loss"])
            break
    head.load_state_dict(best["state"])
    return head, {"best_epoch": best["epoch"], "val_loss": best["loss"]}


def train(params: TrainParams, records_path: Path, out_dir: Path) -> dict[str, Any]:
    if params.recipe != "head":
        raise NotImplementedError(f"recipe {params.recipe!r} is not implemented yet; use 'head'")
    random.seed(params.seed)
    np.random.seed(params.seed)
    torch.manual_seed(params.seed)
    train_records = read_records(records_path, "train")
    val_records = read_records(records_path, "val")
    if not train_records or not val_records:
        raise ValueError(f"{records_path} needs train and val records")
    labels = ordered_labels({r.label for r in train_records})
    index = {label: i for i, label in enumerate(labels)}
    spec = ImageSpec(params.input_size, params.resize_size)
    model = create_backbone(num_classes=len(labels)).to(memory_format=torch.channels_last)
    views = 1 + params.augment_views
    train_x = extract_features(model, image_views(train_records, spec, params.augment_views, params, params.seed), len(train_records) * views, params.batch_size)
    val_x = extract_features(model, image_views(val_records, spec, 0, params, params.seed), len(val_records), params.batch_size)
    train_y = np.repeat([index[r.label] for r in train_records], views).astype(np.int64)
    val_y = np.array([index[r.label] for r in val_records], dtype=np.int64)
    head, history = fit_head(train_x, train_y, val_x, val_y, len(labels), params)
    with torch.no_grad():
        val_logits = head(torch.from_numpy(val_x)).numpy()
    temperature = fit_temperature(val_logits, val_y)
    metadata = ModelMetadata(labels=labels, version=params.version, backbone=BACKBONE, input_size=spec.input_size, resize_size=spec.resize_size, mean=spec.mean, std=spec.std, temperature=temperature)
    threshold = choose_threshold(softmax(val_logits, temperature), val_y, metadata.real_index, params.threshold_policy, params.recall_target)
    metadata = metadata.replace(fake_threshold=threshold)
    model.classifier.load_state_dict(head.state_dict())
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "metadata": metadata.to_dict()}, out_dir / "checkpoint.pt")
    val_accuracy = float((softmax(val_logits, temperature).argmax(1) == val_y).mean())
    metrics = {**history, "temperature": temperature, "fake_threshold": threshold, "val_accuracy_argmax": val_accuracy, "n_train": len(train_records), "n_val": len(val_records), "labels": list(labels)}
    (out_dir / "train_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    log.info("trained head: %s", metrics)
    return metrics


def load_checkpoint(path: Path) -> tuple[torch.nn.Module, ModelMetadata]:
    """The trained classifier (eval mode) and its metadata from ``checkpoint.pt``."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    metadata = ModelMetadata.from_dict(checkpoint["metadata"])
    model = create_backbone(num_classes=len(metadata.labels), pretrained=False)
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--records", type=Path, default=Path("data/prepared/records.csv"))
    parser.add_argument("--out", type=Path, default=Path("models"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train(load_params(args.params).train, args.records, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
