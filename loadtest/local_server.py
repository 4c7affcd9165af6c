"""A throwaway TorchServe for the measuring scripts (loadtest/overload.py, slow_clients.py).

    with local_torchserve(work, {"job_queue_size": "30"}) as server:
        ...  # server.predict_url on a free 127.0.0.1 port; stopped on leaving the block

It serves the model `make serve` serves (models/model if present, else the packaged one)
with config.properties, moved to free loopback ports, plus the given overrides, so a
script never touches a running `make serve` on 8080-8082.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from ai_detector.inference.predictor import resolve_model_dir
from ai_detector.pipeline.package import build_archive
from ai_detector.serving.torchserve import (
    Server,
    loopback_config,
    read_properties,
    start,
    stop,
    write_properties,
)

log = logging.getLogger("loadtest")

ROOT = Path(__file__).resolve().parents[1]


def cpu_name() -> str:
    """The CPU model and the number of cores, to print beside every figure."""
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []:
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            name = value.strip()
            break
    return f"{name}, {psutil.cpu_count()} cores"


@contextmanager
def local_torchserve(work: Path, overrides: dict[str, str] | None = None) -> Iterator[Server]:
    store = work / "store"
    if not (store / "ai-detector.mar").is_file():
        build_archive(resolve_model_dir(None), store, "ai-detector")
    tag = "-".join(f"{k}{v}" for k, v in sorted((overrides or {}).items())) or "default"
    config = loopback_config(ROOT / "config.properties", work / f"config-{tag}.properties")
    values = read_properties(config) | (overrides or {})
    write_properties(values, config)
    logs = work / f"logs-{tag}"
    server = start(config, store, "ai-detector", logs, timeout=180)
    try:
        yield server
    finally:
        stop(logs)


def frontend_process(server: Server) -> psutil.Process:
    """The JVM of this server: the one whose temp dir is the server's own."""
    marker = f"-Djava.io.tmpdir={server.log_dir / 'tmp'}"
    for process in psutil.process_iter(["cmdline"]):
        if marker in (process.info["cmdline"] or []):
            return process
    raise RuntimeError(f"no TorchServe JVM with {marker}")
