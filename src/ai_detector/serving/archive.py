"""Build the TorchServe model archive (.mar) of a model directory.

    from ai_detector.serving.archive import build_archive
    build_archive(Path("models/model"), Path("build/model_store"))   # -> ai-detector.mar

The archive ``<out>/ai-detector.mar`` (the name is ``ai_detector.contract.MODEL_NAME``)
holds the thin handler (``ai_detector/serving/handler.py``), the ONNX model(s) and their
metadata.json, and ``ai_detector/serving/model-config.yaml`` (workers and batching).
Handler and config are read as package data of the installed ``ai_detector``, so a
wheel install builds the same archive as a source checkout. The handler imports the
installed package too, so the archive stays small and the logic is not copied into it.

It lives with serving, not with the DVC stage that calls it (``python -m
ai_detector.pipeline.package``), because the server's users build archives too: ``make
serve``, the integration tests, the load test and the benchmark. It imports no torch.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from ai_detector.contract import MODEL_NAME
from ai_detector.inference.metadata import ModelMetadata

log = logging.getLogger(__name__)

# TorchServe versions must look like numbers; the model's own is in metadata.json. KServe's
# model_snapshot (deploy/kserve/config.properties) names the archive by this version.
ARCHIVE_VERSION = "1.0"


def _serving_file(name: str) -> Path:
    """A file shipped as package data of ai_detector.serving (a real file once installed)."""
    return Path(str(resources.files("ai_detector.serving").joinpath(name)))


def run_archiver(arguments: list[str]) -> None:
    """torch-model-archiver of this interpreter's environment, with these arguments.

    The archiver stages the files in $TMPDIR/<model name>, the same folder for every
    build of that name on the machine: two builds at once (parallel test runs) pulled
    each other's files away. A private temp dir per build keeps them apart.
    """
    code = "from model_archiver.model_packaging import generate_model_archive as g; g()"
    with tempfile.TemporaryDirectory(prefix="archiver-") as private:
        env = {**os.environ, "TMPDIR": private}
        subprocess.run([sys.executable, "-c", code, *arguments], check=True, env=env)


def build_archive(
    model_dir: Path,
    out_dir: Path,
    name: str = MODEL_NAME,
    handler: Path | None = None,
    config: Path | None = None,
) -> Path:
    """Write ``<out_dir>/<name>.mar`` from a model directory; returns its path."""
    handler = handler or _serving_file("handler.py")
    config = config or _serving_file("model-config.yaml")
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
    run_archiver(
        [
            "--model-name",
            name,
            "--version",
            ARCHIVE_VERSION,
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
    )
    archive = out_dir / f"{name}.mar"
    log.info("built %s (model %s, %s)", archive, metadata.version, metadata.precision)
    return archive
