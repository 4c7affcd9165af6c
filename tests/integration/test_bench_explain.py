"""`python -m bench.explain` as the README gives it: every timing printed, the CPU named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_explain_bench_prints_each_timing_and_the_shares() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.explain"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("CPU: ") and "ms per image" in lines[0]
    rows = {line[:32].strip(): float(line[32:]) for line in lines[1:7]}
    assert list(rows) == [
        "predict, model without maps",
        "predict, model with maps",
        "explain: model + maps",
        "predict_bytes",
        "explain_bytes",
        "explain_bytes + answer",
    ]
    assert all(value > 0 for value in rows.values())
    assert lines[7].startswith("explanation / prediction, model only: ")
    assert lines[8].startswith("explanation / prediction, bytes to answer: ")
