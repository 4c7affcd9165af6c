"""Readiness that follows the workers, and bounded memory under huge images, on a real
TorchServe (the session's tiny-model server)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests
from harness.processes import Sampler, server_processes
from PIL import Image, ImageDraw

from ai_detector.contract import read_properties
from ai_detector.serving.torchserve import Server
from tests.conftest import encode_image

log = logging.getLogger(__name__)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"
# deploy/deployment.yaml: limits.memory 3Gi for the whole pod (JVM + 2 workers).
POD_LIMIT = 3 * 1024**3
# What one worker may add over its idle size while decoding worst-case images
# (before the fix: +0.9 GB each, 3.84 GB in all for 8 such images).
WORKER_GROWTH_BUDGET = 400 * 1024**2


def healthcheck(server: Server) -> int:
    model_url = f"{server.management_url}/models/{server.model_name}"
    command = [sys.executable, str(HEALTHCHECK), f"{server.inference_url}/ping", model_url]
    return subprocess.run(command, capture_output=True, timeout=30, check=False).returncode


def scale(server: Server, workers: int) -> None:
    url = f"{server.management_url}/models/{server.model_name}"
    params = {"min_worker": workers, "max_worker": workers, "synchronous": "true"}
    requests.put(url, params=params, timeout=120).raise_for_status()


def test_readiness_follows_the_workers_not_ping(tiny_server):
    assert healthcheck(tiny_server) == 0
    try:
        scale(tiny_server, 0)
        # TorchServe 0.12.0 still calls itself Healthy: the reason /ping is not enough.
        assert requests.get(f"{tiny_server.inference_url}/ping", timeout=10).status_code == 200
        assert requests.post(tiny_server.predict_url, data=b"x", timeout=10).status_code == 503
        assert healthcheck(tiny_server) == 1
    finally:
        scale(tiny_server, 2)
    deadline = time.monotonic() + 120
    while not tiny_server.model_ready() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert healthcheck(tiny_server) == 0


def worst_case_png() -> bytes:
    """Just under the 40 MP limit, RGBA (4 bytes a pixel, and alpha to flatten), a few
    hundred kB on the wire: the cheapest way to make a worker hold the most memory."""
    image = Image.new("RGBA", (6300, 6300), (30, 90, 200, 200))
    ImageDraw.Draw(image).rectangle((1000, 1000, 5000, 4000), fill=(220, 40, 40, 120))
    return encode_image(image, "PNG")


def test_concurrent_worst_case_images_stay_within_the_pod_budget(tiny_server):
    jvm, workers = server_processes(tiny_server)
    assert jvm is not None and len(workers) >= 2
    idle = {w.pid: w.memory_info().rss for w in workers}
    total = Sampler(jvm)  # the JVM and its workers, summed at each instant
    each = {w.pid: Sampler(w, tree=False) for w in workers}
    image = worst_case_png()
    with ExitStack() as watching:
        for sampler in (total, *each.values()):
            watching.enter_context(sampler.watching(0.05))
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(
                pool.map(
                    lambda _: requests.post(tiny_server.predict_url, data=image, timeout=120),
                    range(8),
                )
            )
    peak = {pid: max(idle[pid], int(s.peak_rss_mb * 2**20)) for pid, s in each.items()}
    peak_total = int(total.peak_rss_mb * 2**20)
    assert [r.status_code for r in responses] == [200] * 8
    growth = {pid: peak[pid] - idle[pid] for pid in idle}
    log.info(
        "peak total %.0f MiB; worker growth MiB: %s",
        peak_total / 2**20,
        {pid: round(g / 2**20) for pid, g in growth.items()},
    )
    assert max(growth.values()) <= WORKER_GROWTH_BUDGET, growth
    assert peak_total <= POD_LIMIT


def test_the_frontend_heap_and_direct_memory_are_bounded():
    vmargs = read_properties(ROOT / "config.properties")["vmargs"].split()
    assert any(arg.startswith("-Xmx") for arg in vmargs)
    assert any(arg.startswith("-XX:MaxDirectMemorySize=") for arg in vmargs)
