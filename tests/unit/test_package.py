"""The model archive: built from package data, and several builds at once keep apart."""

from __future__ import annotations

import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ai_detector.contract import MODEL_NAME
from ai_detector.inference.metadata import ModelMetadata
from ai_detector.serving.archive import build_archive
from tests.conftest import write_tiny_onnx_model


def test_concurrent_builds_of_one_name_each_get_their_own_files(tmp_path: Path) -> None:
    """torch-model-archiver stages in $TMPDIR/<name>: without a private temp dir per
    build, parallel builds (test runs side by side) lost each other's files."""
    dirs = []
    for index in range(4):
        model_dir = tmp_path / f"model{index}"
        write_tiny_onnx_model(model_dir)
        metadata = ModelMetadata.load(model_dir).replace(version=f"v{index}")
        metadata.save(model_dir)
        dirs.append(model_dir)
    with ThreadPoolExecutor(4) as pool:
        archives = list(pool.map(lambda d: build_archive(d, d.parent / f"{d.name}-store"), dirs))
    for index, archive in enumerate(archives):
        assert archive.name == f"{MODEL_NAME}.mar"
        with zipfile.ZipFile(archive) as mar:
            names = set(mar.namelist())
            assert {"handler.py", "model-config.yaml", "model.onnx", "metadata.json"} <= names
            assert json.loads(mar.read("metadata.json"))["version"] == f"v{index}"
