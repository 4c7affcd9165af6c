"""Recipe experiments on cached features: the rows of docs/experiments.md.

    python -m ai_detector.pipeline.recipes [--records data/prepared/records.csv]
        [--cache data/features] [--probe-model data/imagenet_probe] [--out metrics/recipes.json]

Each recipe is a ``head`` probe on frozen ImageNet EfficientNet-Lite0 features (the network
the shipped model starts from), judged by the generalise stage's figures: leave-one-source-
out ROC-AUC (mean, min), CIFAKE leave-classes-out accuracy, the evaluation-only sets, and
in-distribution macro F1 / ROC-AUC on the test split. Recipes differ in:

- the view: ``clean`` (serving: shorter side to 256, centre 224), ``native`` (a centre
  224 crop at the file's own resolution), ``both`` (the mean of the two views' features),
  ``textured`` (the mean over the 3 most textured native crops, ai_detector.pipeline.views);
- ``reconstructions``: whether prepare's real/reconstruction pairs are trained on (the A/B);
- ``sbi``: whether the self-blended deepfakes are trained on (the A/B);
- ``balance``: training rows resampled so that every origin group weighs the same.

Features are computed once per view by ai_detector.pipeline.onnx_features (cached).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score

from ai_detector.inference.metadata import ImageSpec, ModelMetadata
from ai_detector.inference.preprocess import preprocess_bytes
from ai_detector.pipeline.backbone import BACKBONE, backbone_image_spec
from ai_detector.pipeline.data.reconstruct import SOURCE as RECONSTRUCTED
from ai_detector.pipeline.data.records import DEEPFAKE, REAL, Record, ordered_labels, read_records
from ai_detector.pipeline.eval_sets import score_sets
from ai_detector.pipeline.export import export_onnx
from ai_detector.pipeline.generalise_folds import (
    auc,
    fit_probe,
    leave_classes_out,
    leave_one_source_out,
)
from ai_detector.pipeline.model import DetectorNet
from ai_detector.pipeline.onnx_features import FeatureExtractor, Transform, cached_run
from ai_detector.pipeline.params import Params, load_params
from ai_detector.pipeline.stage import LOG_FORMAT, RECORDS, stage_parser
from ai_detector.pipeline.views import native_crop, textured_crop

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    view: str = "clean"
    sbi: bool = True
    balance: bool = False
    lr: float | None = None  # None: params.yaml's train.lr
    # False: prepare's real/reconstruction pairs (source "reconstruct") left out.
    reconstructions: bool = True


RECIPES = (
    Recipe("head"),
    Recipe("head, no SBI deepfakes", sbi=False),
    Recipe("head, origins balanced", balance=True),
    Recipe("head, native centre crop", view="native"),
    Recipe("head, serving + native views averaged", view="both"),
    Recipe("head, native crop, origins balanced, no SBI", view="native", sbi=False, balance=True),
    Recipe("head, native centre crop, no SBI deepfakes", view="native", sbi=False),
    # Issue #23, on data with the GitHub sources and the reconstructions:
    Recipe("head, no reconstructions", reconstructions=False),
    Recipe("head, with reconstructions"),
    Recipe("head, 3 textured native crops", view="textured"),
)
TEXTURED_CROPS = 3


def serving_ms(extractor: FeatureExtractor, records: list[Record], view: str) -> float:
    """Median ms per image at batch 1: decode, preprocess (per view) and the network."""
    spec = extractor.spec
    times = []
    for record in records:
        started = time.perf_counter()
        arrays = []
        if view in ("clean", "both"):
            arrays.append(preprocess_bytes(record.read_bytes(), spec))
        if view in ("native", "both"):
            arrays.append(native_crop(record, spec))
        if view == "textured":
            arrays += [
                textured_crop(record, spec, k, TEXTURED_CROPS) for k in range(TEXTURED_CROPS)
            ]
        for array in arrays:
            extractor.run(array[None])
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def imagenet_probe(out: Path, params: Params) -> Path:
    """A model directory whose network is the ImageNet backbone with a zero head: its
    pooled features are what the ``head`` recipe trains on."""
    if (out / "metadata.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    spec = backbone_image_spec()
    labels = ordered_labels({REAL, "AI-generated", DEEPFAKE})
    model = DetectorNet(len(labels), taps=params.train.taps).eval()
    export_onnx(model, spec, out / "model.onnx", params.export.opset)
    ModelMetadata(
        labels=labels,
        version="imagenet-probe",
        backbone=BACKBONE,
        **dataclasses.asdict(spec),
        extra={"architecture": {"taps": list(params.train.taps)}},
    ).save(out)
    return out


def view_features(
    extractor: FeatureExtractor, records: list[Record], view: str, cache: Path, batch: int
) -> np.ndarray:
    def run(tag: str, transform: Transform | None) -> np.ndarray:
        return cached_run(extractor, records, cache, batch, tag, transform)[0]

    native = lambda r: native_crop(r, extractor.spec)  # noqa: E731
    if view == "clean":
        return run("clean", None)
    if view == "native":
        return run("native", native)
    if view == "textured":  # the mean of the TEXTURED_CROPS most textured crops' features
        return np.mean(
            [
                run(f"textured{rank}of{TEXTURED_CROPS}", _textured(extractor.spec, rank))
                for rank in range(TEXTURED_CROPS)
            ],
            axis=0,
        )
    return (run("clean", None) + run("native", native)) / 2


def _textured(spec: ImageSpec, rank: int) -> Transform:
    return lambda r: textured_crop(r, spec, rank, TEXTURED_CROPS)


def balanced_rows(mask: np.ndarray, origins: np.ndarray, seed: int) -> np.ndarray:
    """``mask``'s rows resampled (as many as there are) so that each origin weighs the same."""
    rows = np.flatnonzero(mask)
    counts = {o: (origins[rows] == o).sum() for o in set(origins[rows])}
    weight = np.array([1.0 / counts[o] for o in origins[rows]])
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=len(rows), p=weight / weight.sum()))


def run_recipe(
    recipe: Recipe,
    records: list[Record],
    extractor: FeatureExtractor,
    params: Params,
    cache: Path,
) -> dict[str, Any]:
    if recipe.lr is not None:
        params = dataclasses.replace(params, train=dataclasses.replace(params.train, lr=recipe.lr))
    if not recipe.sbi:
        records = [r for r in records if r.label != DEEPFAKE]
    if not recipe.reconstructions:
        records = [r for r in records if r.source != RECONSTRUCTED]
    labels = extractor.metadata.labels
    real = labels.index(REAL)
    features = view_features(extractor, records, recipe.view, cache, params.generalise.batch_size)
    y = np.array([labels.index(r.label) for r in records])
    origins = np.array([r.origin for r in records])

    def fitted(fit: np.ndarray, stop: np.ndarray) -> Any:
        rows = balanced_rows(fit, origins, params.train.seed) if recipe.balance else fit
        return fit_probe(features, y, rows, stop, len(labels), real, params.train)

    def factory(fit: np.ndarray, stop: np.ndarray) -> Any:
        probe = fitted(fit, stop)
        return lambda rows: probe.fake_score(features[rows])

    loso = leave_one_source_out(records, y, real, factory)
    g = params.generalise
    lco = leave_classes_out(records, y, real, factory, g.cifake_source, g.cifake_holdout)
    split = np.array([r.split for r in records])
    started = time.perf_counter()
    probe = fitted(split == "train", split == "val")
    fit_seconds = time.perf_counter() - started
    test = split == "test"
    probabilities = probe.probabilities(features[test])
    in_dist = {
        "macro_f1": float(f1_score(y[test], probabilities.argmax(1), average="macro")),
        "roc_auc": auc(y[test] != real, 1.0 - probabilities[:, real]),
    }

    def scorer(subset: list[Record], tag: str, transform: Transform | None) -> np.ndarray:
        if transform is None:
            return probe.fake_score(view_features(extractor, subset, recipe.view, cache, 64))
        return probe.fake_score(cached_run(extractor, subset, cache, 64, tag, transform)[0])

    test_records = [r for r, t in zip(records, test, strict=True) if t]
    sets = score_sets(scorer, extractor.spec, g, test_records, 0.5)
    aucs = [f["roc_auc"] for f in loso.values()]
    return {
        "recipe": recipe.name,
        "loso_auc_mean": float(np.mean(aucs)),
        "loso_auc_min": float(np.min(aucs)),
        "loso_min_group": min(loso, key=lambda k: loso[k]["roc_auc"]),
        "cifake_lco_acc": float(np.mean([f["accuracy"] for f in lco.values()])),
        **{f"{name}_auc": entry["roc_auc"] for name, entry in sets.items()},
        "in_distribution": in_dist,
        "loso": {k: v["roc_auc"] for k, v in loso.items()},
        "head_fit_seconds": round(fit_seconds, 1),
    }


def _photos(records: list[Record], count: int = 40) -> list[Record]:
    """Test photos of every size, for timing: the full-size sets, not 32 px CIFAKE."""
    chosen = [r for r in records if r.split == "test" and r.source != "cifake"]
    return chosen[:: max(1, len(chosen) // count)][:count]


def main(argv: list[str] | None = None) -> int:
    paths = {
        "records": RECORDS,
        "cache": "data/features",
        "probe_model": "data/imagenet_probe",
        "out": "metrics/recipes.json",
    }
    parser = stage_parser(__doc__, paths)
    parser.add_argument("--only", nargs="*", default=None, help="recipe names to run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    params = load_params(args.params)
    extractor = FeatureExtractor(
        imagenet_probe(args.probe_model, params), params.generalise.threads
    )
    torch.set_num_threads(1)  # tiny linear steps: see ai_detector.pipeline.generalise
    timer = FeatureExtractor(args.probe_model, threads=1)
    records = read_records(args.records)
    results = []
    for recipe in RECIPES:
        if args.only and recipe.name not in args.only:
            continue
        result = run_recipe(recipe, records, extractor, params, args.cache)
        # One thread, as each serving worker runs (AI_DETECTOR_THREADS defaults to 1).
        result["serving_ms"] = serving_ms(timer, _photos(records), recipe.view)
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "loso"}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
