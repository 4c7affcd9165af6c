"""`make bench` in its quick mode, on the tiny ONNX model: every measurement and ratio is there.

Only the shape of the summary is checked, never the speeds: the run is a few seconds per
phase on a shared machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_tiny_onnx_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_quick_bench_reports_all_three_measurements_and_the_ratios(tmp_path: Path) -> None:
    write_tiny_onnx_model(tmp_path / "model")
    out = tmp_path / "report"
    result = subprocess.run(
        [
            sys.executable,
            *("-m", "bench.run"),
            "--quick",
            *("--model", str(tmp_path / "model"), "--out", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())

    limit = summary["limit"]
    assert {(run["threads"], run["batch"]) for run in limit["runs"]} == {
        (1, 1),
        (1, 8),
        (2, 1),
        (2, 8),
    }
    assert limit["best"]["img_per_s"] > 0
    for name in ("ours", "baseline"):
        server = summary[name]
        assert server["max_throughput"] > 0, name
        assert server["closed"] and server["open"], name
        run = server["open"][0]
        assert run["ok"] > 0 and run["p95"] is not None and run["p99"] is not None, name
        assert server["peak_rss_mb"]["java"] > 0, name
        assert any(key.startswith("worker") for key in server["peak_rss_mb"]), name
    assert "random head" in summary["baseline"]["weights"]
    assert set(summary["ratios"]) >= {"server_over_limit", "ours_over_baseline"}
    assert all(value > 0 for value in summary["ratios"].values())
    assert len(summary["targets"]) >= 5
    assert "ours/baseline" in result.stdout and "in-process limit" in result.stdout
    cpu = summary["machine"]["cpu"]
    assert cpu["model"] and isinstance(cpu["vnni"], bool) and cpu["cores"] >= 1
    assert f"CPU: {cpu['model']}" in result.stdout
    assert [s["set"] for s in summary["sets"]] == ["jpeg1024", "png"]
    for per_set in summary["sets"]:
        bound = per_set["physical"]
        assert bound["decode_ms"] > 0 and bound["model_ms"] > 0
        # The bound is the cores over one image's decode + model time, by definition.
        cores = cpu["cores"]
        expected = cores * 1000 / (bound["decode_ms"] + bound["model_ms"])
        assert bound["img_per_s"] == pytest.approx(expected, rel=0.01)
        assert per_set["limit_img_per_s"] > 0 and per_set["server_req_per_s"] > 0
        assert set(per_set["runs"]) == {"closed_c16", "closed_c2", "open_50pct", "open_80pct"}
        assert per_set["runs"]["open_50pct"]["p95"] is not None
    assert "per image set" in result.stdout and "progressive1600" not in result.stdout
