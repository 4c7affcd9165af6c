"""MLflow logging for the pipeline stages: params, metrics, artefacts, the registered model.

Local by default (``sqlite:///mlflow.db`` in the working directory: `mlflow ui
--backend-store-uri sqlite:///mlflow.db` shows it); a remote server (DagsHub or
your own) when MLFLOW_TRACKING_URI is set, with credentials from
MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD — never from the repository.
Set AI_DETECTOR_MLFLOW=0 to run a stage without tracking.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

EXPERIMENT = "ai-detector"
REGISTERED_MODEL = "ai-detector"


def enabled() -> bool:
    return os.environ.get("AI_DETECTOR_MLFLOW", "1") != "0"


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {"a.b.c": value}; lists and tuples become strings."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def numeric(values: Mapping[str, Any]) -> dict[str, float]:
    return {
        k.replace(" ", "_"): float(v)
        for k, v in flatten(values).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)
    }


@contextmanager
def stage_run(stage: str, params: Any = None) -> Iterator[Any]:
    """An MLflow run for one stage; yields the mlflow module (or None when disabled)."""
    if not enabled():
        yield None
        return
    import mlflow

    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path('mlflow.db').resolve()}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", EXPERIMENT))
    with mlflow.start_run(run_name=stage, tags={"stage": stage}):
        if params is not None:
            is_instance = dataclasses.is_dataclass(params) and not isinstance(params, type)
            values = dataclasses.asdict(params) if is_instance else dict(params)
            mlflow.log_params({k: str(v) for k, v in flatten(values).items()})
        yield mlflow
    log.info("logged %s run to %s", stage, uri)


def log_metrics(mlflow: Any, metrics: Mapping[str, Any]) -> None:
    if mlflow is not None:
        mlflow.log_metrics(numeric(metrics))


def log_artifacts(mlflow: Any, *paths: Path) -> None:
    if mlflow is None:
        return
    for path in paths:
        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path=path.name)
        elif path.is_file():
            mlflow.log_artifact(str(path))


def register_onnx(mlflow: Any, model_path: Path, metrics: Mapping[str, Any]) -> None:
    """Log the exported ONNX model and register a new version of it with its metrics."""
    if mlflow is None:
        return
    import onnx

    info = mlflow.onnx.log_model(
        onnx.load(str(model_path)), name="model", registered_model_name=REGISTERED_MODEL
    )
    log.info(
        "registered %s version %s", REGISTERED_MODEL, getattr(info, "registered_model_version", "?")
    )
    mlflow.log_metrics(numeric(metrics))
