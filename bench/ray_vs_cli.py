"""Images per second of ``predict --engine ray`` against the plain CLI, on the same files.

    python -m bench.ray_vs_cli                       # 2,000 images, 2 rounds, ~5 min on 2 cores
    python -m bench.ray_vs_cli --images 200 --rounds 1 --out /tmp/ray_batch.json   # a quick look

Generates photo-like JPEGs (harness.images, 256-640 px a side) in a temporary folder,
then runs, interleaved so a noisy neighbour slows both alike, ``python -m ai_detector
predict DIR -o x.csv`` and ``... --engine ray DIR --out x.parquet`` as fresh processes
(on 50 of the images, then on all: the difference is the throughput once started),
each with its defaults (the CLI: one session, every core; Ray: local mode, one
single-threaded Predictor actor a core) and the packaged default model. A run's time is
the whole command, Ray's start-up and the model loads included. Memory, of the command's
process tree (the driver, and for Ray its GCS, raylet, agents and worker processes):
the peak of the summed RSS, sampled every 0.2 s with psutil (pages shared between
processes, such as libraries and Ray's object store, count once per process: an upper
bound), and the peak of the summed PSS, sampled every second (shared pages split
between their users: what the tree adds to the machine).
Figures go to the log and to ``--out`` (default metrics/ray_batch.json) with the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from harness.images import encode, photo_like
from harness.processes import Sampler, cpu_name

log = logging.getLogger("bench.ray_vs_cli")
ROOT = Path(__file__).resolve().parents[1]


def make_images(folder: Path, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for index in range(count):
        width, height = (int(side) for side in rng.integers(256, 641, size=2))
        (folder / f"img_{index:05d}.jpg").write_bytes(encode(photo_like(rng, width, height)))


def timed(command: list[str]) -> tuple[float, float, float]:
    """(seconds, peak RSS MiB, peak PSS MiB of the process tree) of one command, which
    must exit 0."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # always local mode
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    root = psutil.Process(process.pid)
    sampler, pss = Sampler(root), ProportionalSampler(root)
    with sampler.watching(0.2), pss.watching(1.0):
        _, errors = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}: {errors[-2000:]}")
    return seconds, sampler.peak_rss_mb, pss.peak_rss_mb


class ProportionalSampler(Sampler):
    """The summed PSS of the tree (reading smaps costs more, hence a slower interval)."""

    def sample(self) -> tuple[float, float, int]:
        total = 0.0
        with contextlib.suppress(psutil.Error):
            for each in [self.root, *self.root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a process that just exited
                    total += each.memory_full_info().pss / 2**20
        self.peak_rss_mb = max(self.peak_rss_mb, total)
        return 0.0, total, 0


def rows_in(path: Path) -> int:
    if path.suffix == ".csv":
        return len(path.read_text(encoding="utf-8").splitlines()) - 1
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def measure(images: int, rounds: int, small: int = 50) -> dict[str, Any]:
    """Each round runs, per engine, ``small`` images then all of them: the difference is
    the throughput once started (``marginal``), the full run the one a user sees."""
    predict = [sys.executable, "-m", "ai_detector", "predict", "-q"]
    with tempfile.TemporaryDirectory(prefix="ray_vs_cli_") as work:
        folders = {"small": Path(work) / "small", "full": Path(work) / "images"}  # full last
        for folder in folders.values():
            folder.mkdir()
        log.info("generating %d images in %s", images, folders["full"])
        make_images(folders["full"], images)
        for path in sorted(folders["full"].iterdir())[:small]:
            (folders["small"] / path.name).hardlink_to(path)
        outputs = {"cli": Path(work) / "x.csv", "ray": Path(work) / "x.parquet"}
        flags = {"cli": ["-o"], "ray": ["--engine", "ray", "--out"]}
        found: list[dict[str, float]] = []
        for round_ in range(1, rounds + 1):
            figures: dict[str, float] = {}
            for name, out in outputs.items():
                seconds: dict[str, float] = {}
                for size, folder in folders.items():
                    out.unlink(missing_ok=True)
                    *flag, last = flags[name]
                    taken, rss, pss = timed([*predict, *flag, str(folder), last, str(out)])
                    expected = images if size == "full" else small
                    if rows_in(out) != expected:
                        raise RuntimeError(f"{name} wrote {rows_in(out)} rows, not {expected}")
                    seconds[size] = taken
                marginal = (images - small) / (seconds["full"] - seconds["small"])
                figures |= {
                    f"{name}_s": round(seconds["full"], 2),
                    f"{name}_images_per_s": round(images / seconds["full"], 1),
                    f"{name}_{small}_images_s": round(seconds["small"], 2),
                    f"{name}_marginal_images_per_s": round(marginal, 1),
                    f"{name}_peak_rss_mb": round(rss),
                    f"{name}_peak_pss_mb": round(pss),
                }
                log.info("round %d %s: %.1f s, %.1f images/s (%.1f once started, %d images "
                         "in %.1f s), peak RSS %.0f MiB, PSS %.0f MiB", round_, name,
                         seconds["full"], images / seconds["full"], marginal, small,
                         seconds["small"], rss, pss)  # fmt: skip
            for kind in ("images_per_s", "marginal_images_per_s"):
                ratio = figures[f"ray_{kind}"] / figures[f"cli_{kind}"]
                figures[f"ratio_{kind}"] = round(ratio, 3)
            started = figures["ratio_marginal_images_per_s"]
            ratio = figures["ratio_images_per_s"]
            log.info("round %d: Ray/CLI = %.3f (%.3f once started)", round_, ratio, started)
            # The neighbours' load, since this VM's speed depends on it (1-minute average).
            figures["load_average"] = round(os.getloadavg()[0], 2)
            found.append(figures)
    return {
        "command": " ".join(["python -m bench.ray_vs_cli", *sys.argv[1:]]),
        "cpu": cpu_name(),
        "images": images,
        "rounds": found,
        "median_ratio_ray_to_cli": median(found, "ratio_images_per_s"),
        "median_ratio_once_started": median(found, "ratio_marginal_images_per_s"),
        "memory": "peaks of the command's process tree (driver + Ray's processes) in the "
        "full run: summed RSS every 0.2 s (shared pages once per process), summed PSS every 1 s",
    }


def median(rounds: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(figures[key] for figures in rounds), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "metrics" / "ray_batch.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("CPU: %s", cpu_name())
    figures = measure(args.images, args.rounds)
    log.info("median Ray/CLI images/s: %.3f (%.3f once started)",
             figures["median_ratio_ray_to_cli"], figures["median_ratio_once_started"])  # fmt: skip
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
