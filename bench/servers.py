"""Build, start and watch the two servers the benchmark compares.

Ours is the real archive (src/ai_detector/serving/handler.py + ONNX model) built by
``ai_detector.serving.archive.build_archive`` with a copy of serving/model-config.yaml; the
baseline is an eager fp32 DetectorNet behind bench/baseline/baseline_handler.py. Both run on
free loopback ports (``harness.servers.local_torchserve``) with logs and pid files in
the benchmark's own work folder, so they never collide with another TorchServe.
:class:`Probe` reads what each process spent (CPU; RSS through harness.processes.Sampler)
and TorchServe's own metrics.

    python -m bench.run   # the only caller
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml
from harness.processes import Sampler, server_processes

from ai_detector.contract import MODEL_NAME
from ai_detector.serving.archive import build_archive, run_archiver
from ai_detector.serving.torchserve import SERVE_DIR, Server

log = logging.getLogger("bench")

BASELINE_DIR = Path(__file__).resolve().parent / "baseline"
NAME = MODEL_NAME


@dataclass(frozen=True)
class Settings:
    """What a run may change: model-config.yaml keys, config.properties keys, worker env."""

    model_config: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def model_config(base: Path, work: Path, overrides: dict[str, Any]) -> Path:
    values = yaml.safe_load(base.read_text()) | overrides
    work.mkdir(parents=True, exist_ok=True)
    target = work / "model-config.yaml"
    target.write_text(yaml.safe_dump(values, sort_keys=False))
    return target


def ours_archive(model_dir: Path, work: Path, settings: Settings) -> Path:
    config = model_config(SERVE_DIR / "model-config.yaml", work, settings.model_config)
    build_archive(model_dir, work / "store", NAME, config=config)
    return work / "store"


def baseline_archive(state_dict: Path, labels: list[str], taps: list[int], work: Path) -> Path:
    """An eager-mode archive: model file + state dict + the image_classifier-style handler."""
    work.mkdir(parents=True, exist_ok=True)
    arch = work / "arch.json"
    arch.write_text(json.dumps({"num_classes": len(labels), "taps": taps}))
    names = work / "index_to_name.json"
    names.write_text(json.dumps({str(i): label for i, label in enumerate(labels)}))
    config = model_config(BASELINE_DIR / "model-config.yaml", work, {})
    arguments = [
        *("--model-name", NAME, "--version", "1.0"),
        *("--model-file", str(BASELINE_DIR / "baseline_model.py")),
        *("--serialized-file", str(state_dict)),
        *("--handler", str(BASELINE_DIR / "baseline_handler.py")),
        *("--extra-files", f"{arch},{names}"),
        *("--config-file", str(config), "--export-path", str(work / "store"), "--force"),
    ]
    (work / "store").mkdir(parents=True, exist_ok=True)
    run_archiver(arguments)
    return work / "store"


METRIC = re.compile(r'^(ts_\w+)\{[^}]*model_name="([^"]+)"[^}]*\}\s+([0-9.eE+-]+)$')


def scrape(server: Server) -> dict[str, float]:
    """TorchServe's cumulative frontend counters for our model (sums over label sets)."""
    with urllib.request.urlopen(f"{server.metrics_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        match = METRIC.match(line)
        if match and match.group(2) == server.model_name:
            totals[match.group(1)] = totals.get(match.group(1), 0.0) + float(match.group(3))
    return totals


def _cpu(proc: psutil.Process | None) -> float:
    try:
        return sum(proc.cpu_times()[:2]) if proc else 0.0
    except psutil.Error:
        return 0.0


def _busy() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


class Probe:
    """CPU seconds of frontend, workers, this process and the whole machine over a phase,
    TorchServe's own latency counters and the handler's time per batch."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.java, self.workers = server_processes(server)
        self.ts_log = server.log_dir / "ts_log.log"
        found = [("java", self.java), *((f"worker{i}", w) for i, w in enumerate(self.workers))]
        self.samplers = {name: Sampler(proc, tree=False) for name, proc in found if proc}

    def snapshot(self) -> dict[str, Any]:
        offset = self.ts_log.stat().st_size if self.ts_log.is_file() else 0
        return {
            "java": _cpu(self.java),
            "workers": sum(_cpu(w) for w in self.workers),
            "self": _cpu(psutil.Process()),
            "busy": _busy(),
            "time": time.perf_counter(),
            "metrics": scrape(self.server),
            "offset": offset,
        }

    def memory(self) -> dict[str, Any]:
        """RSS in MB now; the peak over every call is kept in ``peak_rss``."""
        return {name: sampler.sample()[1] for name, sampler in self.samplers.items()}

    @property
    def peak_rss(self) -> dict[str, float]:
        return {name: round(s.peak_rss_mb, 1) for name, s in self.samplers.items()}

    def handler_ms(self, offset: int) -> list[float]:
        """Handler time per batch (PredictionTime, ms) the workers reported since ``offset``.

        TorchServe's default log4j2 config writes each of these lines twice (its logger and
        the root logger both feed ts_log), so they are counted once per request id. Empty
        when a quieter log config drops them.
        """
        if not self.ts_log.is_file():
            return []
        with self.ts_log.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
        found = re.findall(r"PredictionTime\.Milliseconds:([0-9.]+)\|[^\n]*?,([0-9a-f-]{36})", text)
        return [float(ms) for ms in dict((rid, ms) for ms, rid in found).values()]

    def delta(self, before: dict[str, Any], requests: int) -> dict[str, Any]:
        """Cores used by each party since ``before``, CPU per request, TorchServe's timings."""
        after = self.snapshot()
        self.memory()
        seconds = after["time"] - before["time"]
        cores = {k: (after[k] - before[k]) / seconds for k in ("java", "workers", "self", "busy")}
        cores["other"] = cores["busy"] - cores["java"] - cores["workers"] - cores["self"]
        result: dict[str, Any] = {"cores": {k: round(v, 2) for k, v in cores.items()}}
        if requests:
            result["cpu_ms_per_request"] = {
                k: round(1000 * cores[k] * seconds / requests, 2) for k in ("java", "workers")
            }
        counts = {k: v - before["metrics"].get(k, 0.0) for k, v in after["metrics"].items()}
        served = counts.get("ts_inference_requests_total", 0.0)
        if served:
            result["ts_inference_ms"] = round(
                counts.get("ts_inference_latency_microseconds", 0.0) / served / 1000, 2
            )
            result["ts_queue_ms"] = round(
                counts.get("ts_queue_latency_microseconds", 0.0) / served / 1000, 2
            )
        batches = self.handler_ms(before["offset"])
        if batches and served:
            result["handler_ms_per_batch"] = round(sum(batches) / len(batches), 2)
            result["mean_batch"] = round(served / len(batches), 2)
        return result
