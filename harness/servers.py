"""A throwaway TorchServe for a measurement or a test: free loopback ports, its own logs.

    from harness.servers import archive, local_torchserve
    store = archive(model_dir, work / "store")           # builds <store>/ai-detector.mar
    with local_torchserve(store, work, {"job_queue_size": "30"}) as server:
        ...  # server.predict_url on a free 127.0.0.1 port; stopped however the block ends

It runs config.properties (the one `make serve` runs; or another, ``base=``, such as
deploy/kserve/config.properties) moved to free loopback ports, plus the given overrides,
with its config, logs and pid file in ``work``: it never touches a running `make serve`
on 8080-8082 or another test's server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from ai_detector.contract import MODEL_NAME, read_properties, write_properties
from ai_detector.serving.archive import build_archive
from ai_detector.serving.torchserve import (
    Server,
    loopback_config,
    start,
    stop,
)

ROOT = Path(__file__).resolve().parents[1]
NAME = MODEL_NAME


def archive(model_dir: Path, store: Path, config: Path | None = None) -> Path:
    """``store`` with the model's archive, built unless it is already there."""
    if not (store / f"{NAME}.mar").is_file():
        extra = {"config": config} if config else {}
        build_archive(model_dir, store, NAME, **extra)
    return store


@contextmanager
def local_torchserve(
    store: Path,
    work: Path,
    properties: Mapping[str, str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 240.0,
    base: Path | None = None,
) -> Iterator[Server]:
    """TorchServe serving ``store`` until the block ends (config and logs in ``work``);
    ``base`` is the config moved to loopback (config.properties unless given)."""
    work.mkdir(parents=True, exist_ok=True)
    config = loopback_config(base or ROOT / "config.properties", work / "config.properties")
    if properties:
        write_properties(read_properties(config) | dict(properties), config)
    logs = work / "logs"
    server = start(config, store, NAME, logs, timeout=timeout, env=env)
    try:
        yield server
    finally:
        stop(logs)
