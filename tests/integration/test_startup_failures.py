"""TorchServe that cannot start fails fast, with one line that says why."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ai_detector.contract import read_properties, write_properties
from ai_detector.serving.archive import build_archive
from ai_detector.serving.torchserve import (
    loopback_config,
    start,
    stop,
)
from tests.conftest import write_tiny_onnx_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_a_port_in_use_fails_in_seconds_not_after_the_timeout(tmp_path):
    write_tiny_onnx_model(tmp_path / "model")
    build_archive(tmp_path / "model", tmp_path / "store", "ai-detector")
    config = loopback_config(ROOT / "config.properties", tmp_path / "config.properties")
    values = read_properties(config)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        values["inference_address"] = f"http://127.0.0.1:{taken.getsockname()[1]}"
        write_properties(values, config)
        began = time.monotonic()
        try:
            with pytest.raises(RuntimeError, match="exited while starting") as caught:
                start(config, tmp_path / "store", "ai-detector", tmp_path / "logs", timeout=120)
        finally:
            stop(tmp_path / "logs")
    assert time.monotonic() - began < 60
    assert "\n" not in str(caught.value)


def test_a_missing_model_store_is_one_clear_line(tmp_path):
    config = loopback_config(ROOT / "config.properties", tmp_path / "config.properties")
    missing = tmp_path / "no_such_store"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ai_detector.serving.torchserve",
            "start",
            "--config",
            str(config),
            "--model-store",
            str(missing),
            "--logs",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "did not start" in line and str(missing) in line
