"""What feeding CIFAKE's 32 px images at a small size costs: the all-data experiment.

    python -m ai_detector.pipeline.cifake_sizes [--cifake ../shared/data/cifake]
        [--sizes 32 64 224] [--per-class 0] [--cache data/features]
        [--out metrics/cifake_sizes.json]

The serving path resizes every image to 224 px, so a 32 px CIFAKE image costs a 224 px
forward pass (~16 ms on 2 busy cores, ~25 min for all 80,000). EfficientNet-Lite0 is fully
convolutional with global pooling, so it also runs at 32 or 64 px (about 1/49 and 1/12 of
the work). For each size, frozen ImageNet features (the serving preprocessing scaled to
that size: shorter side to size * 8/7, centre crop) of every image (or ``--per-class`` per
CIFAKE class and label) feed the ``head`` probe, judged by leave-classes-out accuracy
(six classes trained, two held out, four folds). A head trained at a small size but
served at 224 px sees other features: ``at 224`` scores the small-size probe on the
held-out images' 224 px features, where those exist.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ai_detector.inference.preprocess import decode_image, preprocess_image
from ai_detector.pipeline.backbone import backbone_image_spec
from ai_detector.pipeline.data.records import Record, sha256_file
from ai_detector.pipeline.generalise_folds import cifake_class, fit_probe
from ai_detector.pipeline.model import DetectorNet
from ai_detector.pipeline.onnx_features import FeatureExtractor, cached_run
from ai_detector.pipeline.params import TrainParams, load_params
from ai_detector.pipeline.recipe_inputs import imagenet_probe

log = logging.getLogger(__name__)


def cifake_records(root: Path, per_class: int) -> list[Record]:
    """CIFAKE's train/{REAL,FAKE} files, ``per_class`` per (class, label) if set, by hash."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for folder, label in (("REAL", "Real"), ("FAKE", "AI-generated")):
        for path in sorted((root / "train" / folder).glob("*.jpg")):
            sha = sha256_file(path)
            record = Record(str(path), label, "cifake", sha, group=cifake_class(path.name))
            groups.setdefault((record.group, label), []).append(record)
    picked = [sorted(g, key=lambda r: r.sha256)[: per_class or None] for g in groups.values()]
    return [r for group in picked for r in group]


def dynamic_probe(out: Path, size: int) -> Path:
    """The ImageNet probe exported for ``size`` px inputs (one file per size)."""
    model_dir = out / f"size{size}"
    if (model_dir / "metadata.json").is_file():
        return model_dir
    params = load_params()
    base = imagenet_probe(out / "base", params)
    model_dir.mkdir(parents=True, exist_ok=True)
    model = DetectorNet(3, taps=params.train.taps).eval()
    torch.onnx.export(
        model,
        (torch.randn(2, 3, size, size),),
        str(model_dir / "model.onnx"),
        input_names=["input"],
        output_names=["logits"],
        opset_version=params.export.opset,
        dynamo=True,
        external_data=False,
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=1024)},),
    )
    meta = json.loads((base / "metadata.json").read_text())
    meta.update(input_size=size, resize_size=round(size * 8 / 7), version=f"imagenet-{size}")
    (model_dir / "metadata.json").write_text(json.dumps(meta))
    return model_dir


def size_features(records: list[Record], size: int, out: Path, cache: Path) -> np.ndarray:
    extractor = FeatureExtractor(dynamic_probe(out, size), threads=2)
    spec = dataclasses.replace(
        backbone_image_spec(), input_size=size, resize_size=round(size * 8 / 7)
    )

    def view(record: Record) -> np.ndarray:
        return preprocess_image(decode_image(record.read_bytes()), spec)

    return cached_run(extractor, records, cache, 256, f"cifake{size}", view)[0]


def classes_held_out(
    records: list[Record], x: np.ndarray, x224: np.ndarray | None, train: TrainParams
) -> dict[str, Any]:
    """Mean accuracy over the held-out class pairs (a tenth of the rest stops early)."""
    y = np.array([0 if r.label == "Real" else 1 for r in records])
    classes = np.array([r.group for r in records])
    rng = np.random.default_rng(0)
    accuracies, at224 = [], []
    for pair in load_params().generalise.cifake_holdout:
        held = np.isin(classes, list(pair))
        rest = np.flatnonzero(~held)
        stop = np.zeros(len(y), bool)
        stop[rng.choice(rest, size=len(rest) // 10, replace=False)] = True
        probe = fit_probe(x, y, ~held & ~stop, stop, 2, 0, train)
        accuracies.append(float(((probe.fake_score(x[held]) >= 0.5) == y[held]).mean()))
        if x224 is not None:
            at224.append(float(((probe.fake_score(x224[held]) >= 0.5) == y[held]).mean()))
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_at_224": float(np.mean(at224)) if at224 else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cifake", type=Path, default=Path("../shared/data/cifake"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 224])
    parser.add_argument("--per-class", type=int, default=0, help="0 = every image")
    parser.add_argument("--cache", type=Path, default=Path("data/features"))
    parser.add_argument("--probes", type=Path, default=Path("data/imagenet_probe_sizes"))
    parser.add_argument("--out", type=Path, default=Path("metrics/cifake_sizes.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    torch.set_num_threads(1)
    records = cifake_records(args.cifake, args.per_class)
    results = []
    features = {}
    for size in sorted(args.sizes, reverse=True):
        started = time.perf_counter()
        features[size] = size_features(records, size, args.probes, args.cache)
        seconds = time.perf_counter() - started
        row = {"size": size, "images": len(records), "feature_seconds": round(seconds, 1)}
        row |= classes_held_out(records, features[size], features.get(224), load_params().train)
        results.append(row)
        print(json.dumps(row))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
