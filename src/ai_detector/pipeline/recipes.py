"""Recipe experiments on cached features: the rows of docs/experiments.md.

    python -m ai_detector.pipeline.recipes [--records data/prepared/records.csv]
        [--cache data/features] [--probe-model data/imagenet_probe]
        [--teacher configs/teacher.yaml] [--teacher-cache data/cache]
        [--out metrics/recipes.json] [--only NAME...]

Each recipe is a linear ``head`` probe on a frozen network's features, judged by the
generalise stage's figures: leave-one-source-out ROC-AUC (mean, min), CIFAKE leave-classes-
out accuracy, the evaluation-only sets (clean and re-encoded), and in-distribution macro
F1 / ROC-AUC on the test split. Recipes differ in:

- ``networks``: ``cnn``, the ImageNet EfficientNet-Lite0 the shipped model starts from;
  ``teacher``, the frozen CLIP ViT-B/16 (ai_detector.pipeline.teacher); both: one probe
  each, their log-odds of P(not real) averaged, a second opinion beside the first;
- ``shipped_head``: the teacher's own head as its authors fitted it (nothing fitted here);
- the view: ``clean`` (serving: shorter side to the network's resize size, centre crop),
  ``native`` (a centre crop at the file's own resolution), ``both`` (the mean of the two
  views' features), ``textured`` (the mean over the 3 most textured native crops);
- ``reconstructions``: whether prepare's real/reconstruction pairs are trained on (the A/B);
- ``sbi``: whether the self-blended deepfakes are trained on (the A/B);
- ``balance``: training rows resampled so that every origin group weighs the same.

Features are computed once per network and view by ai_detector.pipeline.onnx_features
(cached); the networks and views are ai_detector.pipeline.recipe_inputs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score

from ai_detector.pipeline.data.reconstruct import SOURCE as RECONSTRUCTED
from ai_detector.pipeline.data.records import (
    AI_GENERATED,
    DEEPFAKE,
    REAL,
    Record,
    ordered_labels,
    read_records,
)
from ai_detector.pipeline.distil import distilled_probe
from ai_detector.pipeline.eval_sets import score_sets
from ai_detector.pipeline.generalise_folds import (
    auc,
    fit_probe,
    leave_classes_out,
    leave_one_source_out,
)
from ai_detector.pipeline.onnx_features import Extractor, ImageBytes, bytes_transform, cached_run
from ai_detector.pipeline.params import Params, load_params
from ai_detector.pipeline.recipe_inputs import fused, networks, serving_ms, view_features
from ai_detector.pipeline.stage import LOG_FORMAT, RECORDS, stage_parser
from ai_detector.pipeline.teacher import ShippedHead

log = logging.getLogger(__name__)
LABELS = ordered_labels({REAL, "AI-generated", DEEPFAKE})


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    view: str = "clean"
    sbi: bool = True
    balance: bool = False
    lr: float | None = None  # None: params.yaml's train.lr
    # False: prepare's real/reconstruction pairs (source "reconstruct") left out.
    reconstructions: bool = True
    networks: tuple[str, ...] = ("cnn",)
    shipped_head: bool = False
    # > 0: each network's head learns from the teacher's out-of-fold opinion, mixed
    # with the labels at this weight (ai_detector.pipeline.distil).
    distil: float = 0.0


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
    # Issue #23 item 5: the CLIP teacher as a second opinion.
    Recipe("CLIP teacher, its shipped head", networks=("teacher",), shipped_head=True),
    Recipe("CLIP teacher, head", networks=("teacher",)),
    Recipe("CLIP teacher, head, no reconstructions", networks=("teacher",), reconstructions=False),
    Recipe("CNN head + CLIP head, log-odds averaged", networks=("cnn", "teacher")),
    Recipe("head distilled from the CLIP head, weight 0.5", distil=0.5),
    Recipe("head distilled from the CLIP head, weight 1", distil=1.0),
)


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
    extractors: dict[str, Extractor],
    params: Params,
    cache: Path,
) -> dict[str, Any]:
    if recipe.lr is not None:
        params = dataclasses.replace(params, train=dataclasses.replace(params.train, lr=recipe.lr))
    if not recipe.sbi:
        records = [r for r in records if r.label != DEEPFAKE]
    if not recipe.reconstructions:
        records = [r for r in records if r.source != RECONSTRUCTED]
    real = LABELS.index(REAL)
    used = {name: extractors[name] for name in recipe.networks}
    batch = params.generalise.batch_size
    features = {
        name: view_features(ex, records, recipe.view, cache, batch) for name, ex in used.items()
    }
    y = np.array([LABELS.index(r.label) for r in records])
    teacher = (
        view_features(extractors["teacher"], records, "clean", cache, batch)
        if recipe.distil
        else None
    )
    origins = np.array([r.origin for r in records])

    def fitted(fit: np.ndarray, stop: np.ndarray) -> dict[str, Any]:
        if recipe.shipped_head:
            return {name: ShippedHead(ex.metadata) for name, ex in used.items()}
        rows = balanced_rows(fit, origins, params.train.seed) if recipe.balance else fit
        if teacher is not None:
            labels = (len(LABELS), real, LABELS.index(AI_GENERATED))
            return {
                name: distilled_probe(
                    f, teacher, y, rows, stop, recipe.distil, labels, params.train
                )
                for name, f in features.items()
            }
        return {
            name: fit_probe(f, y, rows, stop, len(LABELS), real, params.train)
            for name, f in features.items()
        }

    def opinion(probes: dict[str, Any], inputs: dict[str, np.ndarray]) -> np.ndarray:
        return fused([probes[name].fake_score(inputs[name]) for name in used])

    def factory(fit: np.ndarray, stop: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        probes = fitted(fit, stop)
        return lambda rows: opinion(probes, {n: f[rows] for n, f in features.items()})

    loso = leave_one_source_out(records, y, real, factory)
    g = params.generalise
    lco = leave_classes_out(records, y, real, factory, g.cifake_source, g.cifake_holdout)
    split = np.array([r.split for r in records])
    started = time.perf_counter()
    probes = fitted(split == "train", split == "val")
    fit_seconds = time.perf_counter() - started
    test = split == "test"
    in_dist: dict[str, float | None] = {
        "macro_f1": None,  # of the three labels: only a single fitted probe has them
        "roc_auc": auc(y[test] != real, opinion(probes, {n: f[test] for n, f in features.items()})),
    }
    if len(used) == 1 and not recipe.shipped_head:
        (only,) = used
        probabilities = probes[only].probabilities(features[only][test])
        in_dist["macro_f1"] = float(f1_score(y[test], probabilities.argmax(1), average="macro"))

    def scorer(subset: list[Record], tag: str, image_bytes: ImageBytes | None) -> np.ndarray:
        inputs = {}
        for name, ex in used.items():
            if image_bytes is None:
                inputs[name] = view_features(ex, subset, recipe.view, cache, 64)
            else:
                transform = bytes_transform(image_bytes, ex.spec)
                inputs[name] = cached_run(ex, subset, cache, 64, tag, transform)[0]
        return opinion(probes, inputs)

    test_records = [r for r, t in zip(records, test, strict=True) if t]
    sets = score_sets(scorer, g, test_records, 0.5)
    aucs = [f["roc_auc"] for f in loso.values()]
    return {
        "recipe": recipe.name,
        "loso_auc_mean": float(np.mean(aucs)),
        "loso_auc_min": float(np.min(aucs)),
        "loso_min_group": min(loso, key=lambda k: loso[k]["roc_auc"]),
        "cifake_lco_acc": float(np.mean([f["accuracy"] for f in lco.values()])) if lco else None,
        **{f"{name}_auc": entry["roc_auc"] for name, entry in sets.items()},
        **{f"{name}_auc_reencoded": entry["roc_auc_reencoded"] for name, entry in sets.items()},
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
        "teacher": "configs/teacher.yaml",
        "teacher_cache": "data/cache",
        "out": "metrics/recipes.json",
    }
    parser = stage_parser(__doc__, paths)
    parser.add_argument("--only", nargs="*", default=None, help="recipe names to run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    params = load_params(args.params)
    chosen = [r for r in RECIPES if not args.only or r.name in args.only]
    unknown = set(args.only or ()) - {r.name for r in RECIPES}
    if unknown:
        parser.error(f"no recipe named {sorted(unknown)}")
    names = {name for r in chosen for name in r.networks} | (
        {"teacher"} if any(r.distil for r in chosen) else set()
    )
    inputs = (names, params, args.probe_model, (args.teacher, args.teacher_cache))
    extractors = networks(*inputs, threads=params.generalise.threads)
    # One thread, as each serving worker runs (AI_DETECTOR_THREADS defaults to 1).
    timers = networks(*inputs, threads=1)
    torch.set_num_threads(1)  # tiny linear steps: see ai_detector.pipeline.generalise
    records = read_records(args.records)
    results = []
    for recipe in chosen:
        result = run_recipe(recipe, records, extractors, params, args.cache)
        used = [timers[name] for name in recipe.networks]
        result["serving_ms"] = serving_ms(used, _photos(records), recipe.view)
        results.append(result)
        log.info("%s", json.dumps({k: v for k, v in result.items() if k != "loso"}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
