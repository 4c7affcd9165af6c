"""The load test (`python -m loadtest.run` and its locustfile) for a few seconds against
the tiny TorchServe.

The full run is `make loadtest`; here only that it runs, measures and judges sensibly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from loadtest.report import max_holding_rate, objectives

from tests.conftest import encode_image, textured_image

ROOT = Path(__file__).resolve().parents[2]
LENIENT = {"p95_ms": 5000, "min_rps": 5, "max_failure_ratio": 0.05, "max_cpu_percent": 100}


def run_loadtest(server, out: Path, slo: dict, *options: str) -> subprocess.CompletedProcess:
    slo_file = out.parent / f"{out.name}-slo.yaml"
    slo_file.write_text(yaml.safe_dump(slo))
    command = [sys.executable, "-m", "loadtest.run", "--host", server.inference_url]
    command += ["--out", str(out), "--slo", str(slo_file), *options]
    return subprocess.run(
        command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.integration
@pytest.mark.slow
def test_steady_run_writes_a_sane_report(tiny_server, tmp_path):
    out = tmp_path / "steady"
    result = run_loadtest(tiny_server, out, LENIENT, "--users", "3", "--run-time", "5s")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    # 3 users x 5.1 req/s (locust.conf): paced, not as fast as the server goes.
    assert 8 < summary["rps"] < 25
    assert summary["requests"] >= 30
    assert summary["failure_ratio"] < 0.05
    assert 0 < summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]
    server = summary["server"]
    assert server["processes"] >= 3  # the Java frontend and its two Python workers
    assert 0 < server["cpu_percent_mean"] <= 100
    assert server["peak_rss_mb"] > 100
    assert summary["locust"]["cpu_cores_mean"] > 0
    assert summary["passed"] is True
    names = [o["name"] for o in summary["objectives"]]
    assert names == ["p95 latency", "throughput", "failure ratio", "server CPU"]
    assert (out / "chart.png").read_bytes()[:4] == b"\x89PNG"
    for name in ("locust.html", "locust_stats.csv", "locust_stats_history.csv", "resources.csv"):
        assert (out / name).stat().st_size > 0, name
    requests = (out / "requests.csv").read_text().splitlines()
    assert len(requests) - 1 >= summary["requests"]  # the summary counts the 5 s, not the stop
    assert all(line.endswith(",1") for line in requests[1:])  # every answer kept the contract


@pytest.mark.integration
@pytest.mark.slow
def test_ramp_counts_wrong_answers_as_failures_and_exits_1(tiny_server, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "photo.png").write_bytes(encode_image(textured_image(), "PNG"))
    (images / "broken.jpg").write_bytes(b"not a JPEG at all")  # answered 415: a failure here
    out = tmp_path / "ramp"
    options = ("--shape", "ramp", "--ramp-rates", "10,20", "--step-time", "5")
    result = run_loadtest(tiny_server, out, LENIENT, *options, "--images", str(images))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "MISSED rate holding p95" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    steps = summary["ramp"]["steps"]
    assert [s["rate"] for s in steps] == [10, 20]
    assert steps[0]["users"] < steps[1]["users"]
    for step in steps:
        assert 0.2 < step["failure_ratio"] < 0.8  # the broken file fails, the photo passes
        assert step["p95_ms"] > 0 and not step["ok"]
    assert summary["ramp"]["max_rate"] is None
    assert summary["passed"] is False


def test_ramp_verdict_stops_at_the_first_missed_step():
    steps = [{"rate": 30, "ok": True}, {"rate": 50, "ok": False}, {"rate": 70, "ok": True}]
    assert max_holding_rate(steps) == 30
    assert max_holding_rate(steps[:1]) == 30
    assert max_holding_rate(steps[1:2]) is None
    summary = {"cpus_given": 2.0, "ramp": {"max_rate": 30}}
    [objective] = objectives(summary, {"min_rps": 50})
    assert objective == {
        "name": "rate holding p95",
        "value": 30,
        "limit": ">= 50 req/s",
        "ok": False,
    }
