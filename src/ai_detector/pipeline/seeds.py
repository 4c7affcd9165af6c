"""A recipe's run-to-run spread: the train section at several seeds, each exported and judged.

    python -m ai_detector.pipeline.seeds --seeds 42 7 123 [--params params.yaml]
        [--records data/prepared/records.csv] [--out data/seeds] [--cache data/features]
        [--teacher data/teacher]

One run of a recipe says little: the same recipe at the same seed, trained on two CPU
types, moved the mean of the evaluation-only sets by 0.015 and one set by 0.038
(docs/experiments.md, 2026-12-07). So an A/B is two calls of this module, one per params
file, and a difference counts only where it is larger than both spreads. Per seed: the
train stage's ``train()`` with ``train.seed`` set (soft targets from the teacher as the
train stage would), the export stage's ``export()`` in fp32 (no int8: the generalise
figures read the fp32 file anyway), and the generalise stage's ``generalise()``. Each
seed's model and figures stay in ``<out>/seed-<n>/``, and a seed whose figures are
there is not run again, so a stopped run goes on where it stopped. ``<out>/seeds.json``
holds every seed's headline and, per figure, the mean, min, max and spread (max - min);
``eval_mean`` is the mean ROC-AUC of the evaluation-only sets that hold fakes.
Not a DVC stage: hours of training for a question, not a product (as ``recipes``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ai_detector.pipeline.data.records import read_records
from ai_detector.pipeline.distil import teacher_targets
from ai_detector.pipeline.export import export
from ai_detector.pipeline.generalise import generalise
from ai_detector.pipeline.params import Params
from ai_detector.pipeline.stage import RECORDS, TEACHER, optional_path, run_stage
from ai_detector.pipeline.tracking import log_metrics
from ai_detector.pipeline.train import train

log = logging.getLogger(__name__)


def run_seed(
    params: Params, seed: int, records_path: Path, out_dir: Path, cache: Path | None, teacher: Path
) -> dict[str, Any]:
    """The generalise headline of the recipe trained at ``seed`` (read back if there)."""
    figures = out_dir / "generalise.json"
    if figures.is_file():
        log.info("seed %d: figures found in %s, not trained again", seed, figures)
        return dict(json.loads(figures.read_text()))
    seeded = dataclasses.replace(params.train, seed=seed)
    targets = teacher_targets(read_records(records_path), teacher, seeded)
    train(seeded, records_path, out_dir, cache, soft_targets=targets)
    fp32 = dataclasses.replace(params.export, quantize=False)
    export(fp32, out_dir / "checkpoint.pt", records_path, out_dir / "model")
    headline, detail = generalise(params.generalise, seeded, out_dir / "model", records_path, cache)
    # Over the sets that hold fakes (a reals-only set ranks real photos against the test
    # fakes, another kind of figure); None if one of them has no figure, so that every
    # run's mean is over the same sets.
    sets = detail["evaluation_sets"].values()
    found = [s["roc_auc"] for s in sets if s["fake_recall"] is not None]
    headline["eval_mean"] = float(np.mean(found)) if found and None not in found else None
    headline["model_version"] = detail["model_version"]
    (out_dir / "generalise_detail.json").write_text(json.dumps(detail, indent=2) + "\n")
    figures.write_text(json.dumps(headline, indent=2) + "\n")
    return headline


def spread(runs: dict[int, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per numeric figure present in every run: mean, min, max and spread (max - min)."""
    keys = [k for k in next(iter(runs.values())) if all(_number(r.get(k)) for r in runs.values())]
    summary = {}
    for key in keys:
        values = np.array([runs[seed][key] for seed in runs], float)
        low, high = float(values.min()), float(values.max())
        summary[key] = {"mean": float(values.mean()), "min": low, "max": high, "spread": high - low}
    return summary


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def table(runs: dict[int, dict[str, Any]], summary: dict[str, dict[str, float]]) -> str:
    """A markdown table: a row per seed, then the mean and the spread of every figure."""
    keys = list(summary)
    lines = ["| seed | " + " | ".join(keys) + " |", "|" + " --- |" * (len(keys) + 1)]
    lines += [f"| {s} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |" for s, r in runs.items()]
    for what in ("mean", "spread"):
        lines.append(f"| {what} | " + " | ".join(f"{summary[k][what]:.3f}" for k in keys) + " |")
    return "\n".join(lines)


def seeds(
    params: Params,
    chosen: Sequence[int],
    records_path: Path,
    out: Path,
    cache: Path | None,
    teacher: Path,
) -> dict[str, Any]:
    if len(set(chosen)) != len(chosen) or not chosen:
        raise ValueError(f"--seeds must name distinct seeds, got {list(chosen)}")
    runs = {}
    for seed in chosen:
        log.info(
            "seed %d: training %s (%s recipe)", seed, params.train.version, params.train.recipe
        )
        runs[seed] = run_seed(params, seed, records_path, out / f"seed-{seed}", cache, teacher)
    result = {"version": params.train.version, "runs": runs, "summary": spread(runs)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "seeds.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    # --seeds is this module's own option; the stage skeleton parses the paths and params.
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 123])
    chosen, rest = own.parse_known_args(argv)

    def body(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
        cache = optional_path(args.cache)
        result = seeds(params, chosen.seeds, args.records, args.out, cache, args.teacher)
        log_metrics(mlflow, {"summary": result["summary"]})
        # The module's intended output: the figures, in the terminal that asked for them.
        print(table(result["runs"], result["summary"]))

    paths = {"records": RECORDS, "out": "data/seeds", "cache": "data/features", "teacher": TEACHER}
    return run_stage("seeds", __doc__, body, rest, paths)


if __name__ == "__main__":
    raise SystemExit(main())
