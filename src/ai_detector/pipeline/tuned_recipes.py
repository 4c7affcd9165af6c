"""Fine-tune recipe experiments: the ``finetune`` rows of docs/experiments.md.

    python -m ai_detector.pipeline.tuned_recipes [--only NAME ...]
        [--records data/prepared/records.csv] [--work data/recipes]
        [--cache data/features] [--out metrics/tuned_recipes.json]

Each recipe is params.yaml's ``train`` section with some values changed (and, for the SBI
A/B, the self-blended deepfakes left out of the records; for more CIFAKE, the prepare stage
run again on params.yaml's sources with CIFAKE's ``max_per_class`` changed). It runs the
pipeline's own stages on it: train (timed), export (fp32 only: int8 does not change what a
recipe learns), evaluate (in-distribution test split) and generalise (leave-one-source-out and
CIFAKE leave-classes-out probes on the tuned features, which are upper bounds because the
backbone saw every group while it was tuned; the evaluation-only sets, which no recipe
trains on and which are fair across rows). A recipe whose folder under ``--work`` already
holds a checkpoint is not trained again. Rows are appended to ``--out`` as they finish.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import yaml

from ai_detector.pipeline.data.records import DEEPFAKE, Record, read_records, write_records
from ai_detector.pipeline.evaluate import evaluate
from ai_detector.pipeline.export import export
from ai_detector.pipeline.generalise import generalise
from ai_detector.pipeline.params import Params, load_params
from ai_detector.pipeline.prepare import prepare
from ai_detector.pipeline.stage import LOG_FORMAT, RECORDS, stage_parser
from ai_detector.pipeline.train import train

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TunedRecipe:
    name: str
    sbi: bool = True
    train: dict[str, Any] = dataclasses.field(default_factory=dict)
    cifake_per_class: int | None = None  # None: as params.yaml's sources say

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


NO_RESHARE = {"reshare_probability": 0.0}
TUNED_RECIPES = (
    TunedRecipe("finetune, no SBI, no resharing", sbi=False, train=NO_RESHARE),
    TunedRecipe("finetune, no SBI, format and size resharing", sbi=False),
    TunedRecipe("finetune, no SBI, CIFAKE x3", sbi=False, train=NO_RESHARE, cifake_per_class=2000),
    TunedRecipe(
        "finetune from stage 2, no SBI", sbi=False, train={**NO_RESHARE, "finetune_from": 2}
    ),
)


def recipe_records(
    recipe: TunedRecipe, params: Params, records_path: Path, folder: Path
) -> list[Record]:
    """The records a recipe trains and is tested on."""
    if recipe.cifake_per_class is not None:
        records_path = folder / "prepared" / "records.csv"
        if not records_path.is_file():
            sources = yaml.safe_load(Path(params.prepare.sources).read_text())
            for entry in sources["sources"]:
                if entry["name"] == params.generalise.cifake_source:
                    entry["max_per_class"] = recipe.cifake_per_class
            (folder / "sources.yaml").write_text(yaml.safe_dump(sources, sort_keys=False))
            changed = dataclasses.replace(params.prepare, sources=str(folder / "sources.yaml"))
            prepare(changed, folder / "prepared")
    records = read_records(records_path)
    return records if recipe.sbi else [r for r in records if r.label != DEEPFAKE]


def run_recipe(
    recipe: TunedRecipe, params: Params, records_path: Path, work: Path, cache: Path
) -> dict[str, Any]:
    folder = work / recipe.slug
    folder.mkdir(parents=True, exist_ok=True)
    write_records(recipe_records(recipe, params, records_path, folder), folder / "records.csv")
    train_params = dataclasses.replace(params.train, **recipe.train)
    timing = folder / "train_seconds.json"
    if not (folder / "checkpoint.pt").is_file():
        started = time.perf_counter()
        train(train_params, folder / "records.csv", folder, cache)
        timing.write_text(json.dumps({"seconds": time.perf_counter() - started}) + "\n")
    model = folder / "model"
    export(
        dataclasses.replace(params.export, quantize=False),
        folder / "checkpoint.pt",
        folder / "records.csv",
        model,
    )
    in_dist = evaluate(params.evaluate, model, folder / "records.csv", None)["test"]
    headline, detail = generalise(
        params.generalise, params.train, model, folder / "records.csv", cache
    )
    return {
        "recipe": recipe.name,
        "train_changes": recipe.train,
        "sbi": recipe.sbi,
        **headline,
        "loso_min_group": min(
            detail["leave_one_source_out"],
            key=lambda g: detail["leave_one_source_out"][g]["roc_auc"],
        ),
        "in_distribution": {
            "macro_f1": in_dist["macro_f1"],
            "roc_auc": in_dist["roc_auc_fake"],
        },
        "loso": {g: f["roc_auc"] for g, f in detail["leave_one_source_out"].items()},
        "evaluation_sets": detail["evaluation_sets"],
        "train_seconds": json.loads(timing.read_text())["seconds"] if timing.is_file() else None,
    }


def main(argv: list[str] | None = None) -> int:
    paths = {
        "records": RECORDS,
        "work": "data/recipes",
        "cache": "data/features",
        "out": "metrics/tuned_recipes.json",
    }
    parser = stage_parser(__doc__, paths)
    parser.add_argument("--only", nargs="*", default=None, help="recipe names to run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    params = load_params(args.params)
    rows = json.loads(args.out.read_text()) if args.out.is_file() else []
    for recipe in TUNED_RECIPES:
        if args.only and recipe.name not in args.only:
            continue
        row = run_recipe(recipe, params, args.records, args.work, args.cache)
        rows = [r for r in rows if r["recipe"] != recipe.name] + [row]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
        log.info(
            "%s", json.dumps({k: v for k, v in row.items() if k not in ("loso", "evaluation_sets")})
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
