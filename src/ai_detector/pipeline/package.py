"""DVC stage ``package``: build the TorchServe model archive (.mar).

    python -m ai_detector.pipeline.package [--model models/model] [--out model_store]

The stage is the pipeline's call of :func:`ai_detector.serving.archive.build_archive`
(which says what the archive holds): ``model_store/ai-detector.mar`` from ``models/model``,
else from the shipped default model. The builder lives with serving because the server's
users (``make serve``, tests, load test, benchmark) build archives without the pipeline.
"""

from __future__ import annotations

import argparse
from typing import Any

from ai_detector.inference.predictor import resolve_model_dir
from ai_detector.pipeline.params import Params
from ai_detector.pipeline.stage import run_stage
from ai_detector.serving.archive import build_archive


def main(argv: list[str] | None = None) -> int:
    # Not tracked: a build step (`make serve` runs it too), no figures to log.
    paths = {"model": None, "out": "model_store"}  # --model: models/model, else the default
    return run_stage("package", __doc__, _run, argv, paths, tracked=False)


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    build_archive(resolve_model_dir(args.model), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
