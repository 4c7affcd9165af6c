"""DVC stage ``package``: build the TorchServe model archive (.mar).

    python -m ai_detector.pipeline.package [--model models/model] [--out model_store]
        [--name ai-detector]

The archive holds the thin handler (src/ai_detector/serving/handler.py), the ONNX model(s) and their
metadata.json, and src/ai_detector/serving/model-config.yaml (workers and batching). The handler
imports the installed ``ai_detector`` package, so the archive stays small and the
logic is not copied into it.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
from pathlib import Path

from ai_detector.inference.metadata import ModelMetadata
from ai_detector.inference.predictor import resolve_model_dir
from ai_detector.pipeline.params import load_params
from ai_detector.serving.torchserve import SERVE_DIR, venv_tool

log = logging.getLogger(__name__)


def build_archive(
    model_dir: Path,
    out_dir: Path,
    name: str,
    handler: Path = SERVE_DIR / "handler.py",
    config: Path = SERVE_DIR / "model-config.yaml",
) -> Path:
    """Write ``<out_dir>/<name>.mar`` from a model directory; returns its path."""
    metadata = ModelMetadata.load(model_dir)
    models = [model_dir / name for name in metadata.model_files]
    for path in (handler, config, *models):
        if not path.is_file():
            raise FileNotFoundError(f"cannot package: {path} is missing")
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = [*models, model_dir / "metadata.json"]
    card = model_dir / "MODEL_CARD.md"
    if card.is_file():
        extra.append(card)
    command = [
        venv_tool("torch-model-archiver"),
        "--model-name",
        name,
        # TorchServe versions must look like numbers; the model's own version is in metadata.json.
        "--version",
        "1.0",
        "--handler",
        str(handler),
        "--extra-files",
        ",".join(str(p) for p in extra),
        "--config-file",
        str(config),
        "--export-path",
        str(out_dir),
        "--force",
    ]
    subprocess.run(command, check=True)
    archive = out_dir / f"{name}.mar"
    log.info("built %s (model %s, %s)", archive, metadata.version, metadata.precision)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="model directory (default: models/model, else the packaged default)",
    )
    parser.add_argument("--out", type=Path, default=Path("model_store"))
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    name = args.name or (
        load_params(args.params).package.model_name
        if Path(args.params).is_file()
        else "ai-detector"
    )
    build_archive(resolve_model_dir(args.model), args.out, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
