"""A real TorchServe on 127.0.0.1 (free ports), serving an archive built in the test run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ai_detector.pipeline.package import build_archive
from ai_detector.serving.torchserve import Server, loopback_config, start, stop
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


@pytest.fixture(scope="session")
def cam_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """A TorchServe whose tiny model has explanation outputs, and the demo page's origin,
    the only one its CORS settings allow (as config.properties does for `make demo`)."""
    from ai_detector.pipeline.cam_graph import add_cam_outputs_file
    from ai_detector.serving.torchserve import free_port, read_properties, write_properties

    work = tmp_path_factory.mktemp("torchserve-cam")
    write_tiny_onnx_model(work / "model")
    add_cam_outputs_file(work / "model" / "model.onnx")
    origin = f"http://127.0.0.1:{free_port()}"
    store = work / "store"
    build_archive(work / "model", store, "ai-detector")
    config = loopback_config(ROOT / "config.properties", work / "config.properties")
    values = read_properties(config)
    values["cors_allowed_origin"] = origin
    write_properties(values, config)
    logs = work / "logs"
    server = start(config, store, "ai-detector", logs, timeout=180)
    try:
        yield server, origin
    finally:
        stop(logs)
