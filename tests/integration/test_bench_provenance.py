"""`python -m bench.provenance` as the README gives it: every case measured, the CPU named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_provenance_bench_prints_a_figure_per_case() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.provenance"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("CPU: ") and len(lines[0]) > len("CPU: ; ms per image")
    rows = {line[:32].strip(): line[32:].split() for line in lines[2:]}
    assert set(rows) == {
        "none: JPEG 1024x768",
        "none: JPEG 4000x3000",
        "none: PNG 1024x768",
        "none: WebP 1024x768",
        "camera EXIF: JPEG 4000x3000",
        "A1111 settings: PNG 1024x768",
        "C2PA: JPEG 1024x768",
        "C2PA: JPEG 4000x3000",
    }
    for size, p50, p95, preprocess in rows.values():
        assert int(size) > 0 and 0 < float(p50) <= float(p95) and float(preprocess) > 0
