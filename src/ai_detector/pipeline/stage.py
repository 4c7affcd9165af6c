"""The skeleton every DVC stage's ``main()`` shares: arguments, logging, params, MLflow run.

A stage module describes only what is its own, the paths it reads and writes and the
body that does the work::

    def main(argv: list[str] | None = None) -> int:
        return run_stage("train", __doc__, _run, argv, {"records": RECORDS, "out": "models"})

    def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
        ...

Every stage then takes ``--params`` (default ``params.yaml``, loaded and checked before
any work starts), logs in one format, and runs inside an MLflow run named after the
stage whose parameters are that stage's params.yaml section (see
:mod:`ai_detector.pipeline.tracking`; ``tracked=False`` for the quick stages).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ai_detector.pipeline.params import Params, load_params
from ai_detector.pipeline.tracking import stage_run

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The stages' default paths, shared by those that read them (dvc.yaml passes them all).
RECORDS = "data/prepared/records.csv"
CHECKPOINT = "models/checkpoint.pt"
MODEL = "models/model"
EXPORT_REPORT = "metrics/export.json"
EVALUATION = "metrics/evaluate.json"
TEACHER = "data/teacher"

StageBody = Callable[[argparse.Namespace, Params, Any], None]


def stage_parser(doc: str | None, arguments: Mapping[str, str | None]) -> argparse.ArgumentParser:
    """``--params`` plus one ``--<name>`` path option per entry (None: no default)."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    for name, default in arguments.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=Path,
            default=None if default is None else Path(default),
        )
    return parser


def optional_path(path: Path) -> Path | None:
    """A path option that may be turned off: ``--cache ''`` (parsed as ".") means none."""
    return path if str(path) not in ("", ".") else None


def run_stage(
    name: str,
    doc: str | None,
    body: StageBody,
    argv: list[str] | None,
    paths: Mapping[str, str | None],
    *,
    tracked: bool = True,
) -> int:
    """Parse ``argv`` (``--params`` and one option per entry of ``paths``), set up logging,
    load params.yaml and run ``body`` in an MLflow run."""
    args = stage_parser(doc, paths).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    params = load_params(args.params)
    if not tracked:
        body(args, params, None)
        return 0
    with stage_run(name, getattr(params, name, None)) as mlflow:
        body(args, params, mlflow)
    return 0
