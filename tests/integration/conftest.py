"""A real TorchServe on 127.0.0.1 (free ports), serving an archive built in the test run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ai_detector.package import build_archive
from ai_detector.server import Server, loopback_config, start, stop
from tests.conftest import write_tiny_onnx_model

ROOT = Path(__file__).resolve().parents[2]


def serve_model(model_dir: Path, work: Path) -> Iterator[Server]:
    store = work / "store"
    build_archive(model_dir, store, "ai-detector")
    config = loopback_config(ROOT / "config.properties", work / "config.properties")
    logs = work / "logs"
    server = start(config, store, "ai-detector", logs, timeout=180)
    try:
        yield server
    finally:
        stop(logs)


@pytest.fixture(scope="session")
def tiny_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("torchserve")
    write_tiny_onnx_model(work / "model")
    yield from serve_model(work / "model", work)
