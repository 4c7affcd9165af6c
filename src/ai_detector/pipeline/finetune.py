"""The ``finetune`` recipe: after the linear head, train the last backbone stages too.

Linear probing first, then fine-tuning (LP-FT, Kumar et al. 2022) keeps the
pretrained features from being distorted by a random head. Only the stages from
``finetune_from`` on, the final 1x1 conv and the head learn; earlier stages and every
BatchNorm's statistics stay frozen, which suits small CPU batches and costs one
forward pass of the frozen part per image per epoch. Each epoch sees a fresh random
augmentation of every training image.

With ``soft_targets`` (sha256 -> a probability per label, e.g. the CLIP teacher's
opinion mixed with the label, ai_detector.pipeline.distil) the training images are
fitted towards those distributions instead of their labels; validation, early stopping
and the threshold still go by the labels.

Called by :mod:`ai_detector.pipeline.train` when ``train.recipe`` is ``finetune``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ai_detector.inference.metadata import ImageSpec
from ai_detector.inference.preprocess import decode_image, preprocess_image
from ai_detector.pipeline.augment import augment
from ai_detector.pipeline.backbone import backbone_image_spec
from ai_detector.pipeline.data.records import Record
from ai_detector.pipeline.model import DetectorNet
from ai_detector.pipeline.params import TrainParams

log = logging.getLogger(__name__)


# A label index, or a probability per label (CrossEntropyLoss takes either).
Target = int | np.ndarray
SoftTargets = Mapping[str, np.ndarray]


class ImageViews(Dataset[tuple[torch.Tensor, Target]]):
    """Records as (input, target): the serving view, or a fresh augmentation per epoch;
    the target is the label's index, or the record's row of ``soft`` when given."""

    def __init__(
        self,
        records: list[Record],
        index: dict[str, int],
        spec: ImageSpec,
        params: TrainParams,
        train: bool,
        soft: SoftTargets | None = None,
    ) -> None:
        self.records, self.index, self.spec, self.params, self.train = (
            records,
            index,
            spec,
            params,
            train,
        )
        self.soft = soft
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, Target]:
        record = self.records[item]
        image = decode_image(record.read_bytes(), draft_size=self.spec.resize_size)
        if self.train:
            rng = random.Random(f"{self.params.seed}-{record.sha256}-{self.epoch}")
            array = augment(image, self.spec, rng, self.params)
        else:
            array = preprocess_image(image, self.spec)
        if self.soft is not None:
            return torch.from_numpy(array), self.soft[record.sha256].astype(np.float32)
        return torch.from_numpy(array), self.index[record.label]


def trainable_parameters(model: DetectorNet, first_stage: int) -> list[torch.nn.Parameter]:
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    backbone = model.backbone
    modules = [*backbone.blocks[first_stage:], backbone.conv_head, model.classifier]
    chosen = []
    for module in modules:
        for name, parameter in module.named_parameters():
            if "bn" not in name:  # BatchNorm stays frozen: statistics and affine
                parameter.requires_grad_(True)
                chosen.append(parameter)
    return chosen


@torch.no_grad()
def predict_logits(
    model: DetectorNet, loader: DataLoader[tuple[torch.Tensor, Target]]
) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    logits, labels = [], []
    for x, y in loader:
        logits.append(model(x.contiguous(memory_format=torch.channels_last)).numpy())
        labels.append(y.numpy())
    return np.concatenate(logits), np.concatenate(labels)


def finetune(
    model: DetectorNet,
    train_records: list[Record],
    val_records: list[Record],
    index: dict[str, int],
    params: TrainParams,
    soft_targets: SoftTargets | None = None,
) -> dict[str, Any]:
    """Fine-tune in place; the best epoch by validation loss is kept. Returns the history."""
    spec = backbone_image_spec()
    if soft_targets is not None:
        missing = [r.sha256 for r in train_records if r.sha256 not in soft_targets]
        if missing:
            raise ValueError(f"{len(missing)} training images have no soft target")
    train_set = ImageViews(train_records, index, spec, params, train=True, soft=soft_targets)
    val_loader = DataLoader(
        ImageViews(val_records, index, spec, params, train=False), batch_size=params.batch_size
    )
    generator = torch.Generator().manual_seed(params.seed)
    train_loader = DataLoader(
        train_set, batch_size=params.finetune_batch_size, shuffle=True, generator=generator
    )
    parameters = trainable_parameters(model, params.finetune_from)
    optimizer = torch.optim.AdamW(
        parameters, lr=params.finetune_lr, weight_decay=params.weight_decay
    )
    steps = params.finetune_epochs * len(train_loader)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=params.finetune_lr, total_steps=steps, pct_start=0.1
    )
    counts = np.bincount([index[r.label] for r in train_records], minlength=len(index)).astype(
        np.float32
    )
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=torch.tensor(counts.sum() / (len(index) * np.maximum(counts, 1)))
    )
    val_logits, val_y = predict_logits(model, val_loader)
    best: dict[str, Any] = {
        "epoch": -1,
        "loss": float(loss_fn(torch.from_numpy(val_logits), torch.from_numpy(val_y))),
        "state": _copy(model),
    }
    history: list[dict[str, float]] = [{"epoch": -1, "val_loss": best["loss"]}]
    for epoch in range(params.finetune_epochs):
        train_set.epoch = epoch
        model.eval()  # BatchNorm statistics stay frozen even while weights learn
        running = 0.0
        for x, y in tqdm(
            train_loader, desc=f"finetune {epoch + 1}/{params.finetune_epochs}", mininterval=10
        ):
            optimizer.zero_grad()
            loss = loss_fn(model(x.contiguous(memory_format=torch.channels_last)), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running += float(loss.detach()) * len(y)
        val_logits, val_y = predict_logits(model, val_loader)
        val_loss = float(loss_fn(torch.from_numpy(val_logits), torch.from_numpy(val_y)))
        accuracy = float((val_logits.argmax(1) == val_y).mean())
        history.append(
            {
                "epoch": epoch,
                "train_loss": running / len(train_set),
                "val_loss": val_loss,
                "val_accuracy": accuracy,
            }
        )
        log.info("finetune epoch %d: %s", epoch, history[-1])
        if val_loss < best["loss"]:
            best = {"epoch": epoch, "loss": val_loss, "state": _copy(model)}
        elif epoch - best["epoch"] >= params.patience:
            break
    model.load_state_dict(best["state"])
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    val_logits, _ = predict_logits(model, val_loader)
    return {
        "finetune_best_epoch": best["epoch"],
        "finetune_val_loss": best["loss"],
        "finetune_history": history,
        "val_logits": val_logits,
    }


def _copy(model: DetectorNet) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
