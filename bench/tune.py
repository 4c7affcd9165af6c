"""Try server settings on our TorchServe, one server per candidate, the same short load each.

    python -m bench.tune                          # every candidate (about 1 minute each)
    python -m bench.tune --only default,batch4 --seconds 20

Every candidate changes copies only (model-config.yaml, config.properties, worker env,
JVM options) inside a temp folder; the repository's files are never touched. Each gets a
warm-up, closed loops at 16 and 32 connections and an open loop at ``--rate``; candidates
take turns for ``--rounds`` rounds and the medians of the rounds nothing else disturbed
are printed, one line per candidate. Writes ``<out>/tune.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from harness.servers import local_torchserve

from ai_detector.inference.metadata import METADATA_FILE
from ai_detector.inference.predictor import resolve_model_dir
from bench.measure import Plan, measure_server
from bench.report import DISTURBED_CORES
from bench.run import HERE, machine, parse_settings
from bench.servers import ours_archive
from bench.standin import standin_model
from bench.workload import interleave, make_mix

log = logging.getLogger("bench")

LEAN_JVM = "-Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
CANDIDATES: dict[str, list[str]] = {
    "default": [],
    "batch1": ["batchSize=1"],
    "batch8": ["batchSize=8"],
    "batch16": ["batchSize=16", "maxBatchDelay=10"],
    "delay2": ["maxBatchDelay=2"],
    "delay20": ["maxBatchDelay=20"],
    "workers3": ["minWorkers=3", "maxWorkers=3"],
    "workers1x2threads": ["minWorkers=1", "maxWorkers=1", "AI_DETECTOR_THREADS=2"],
    "netty1": ["number_of_netty_threads=1", "netty_client_threads=1"],
    "netty4": ["number_of_netty_threads=4", "netty_client_threads=4"],
    "leanjvm": [f"vmargs={LEAN_JVM}"],
    "leanjvm+batch8": [f"vmargs={LEAN_JVM}", "batchSize=8"],
}


def score(result: dict[str, Any]) -> dict[str, Any]:
    """One round of a candidate: top closed-loop req/s, open-loop latency, disturbance."""
    run = result["open"][0]
    return {
        "top": result["max_throughput"],
        "p95": run["p95"],
        "jpeg_p95": run["by_kind"].get("jpeg", {}).get("p95"),
        "errors": sum(run["errors"].values()),
        "java_ms": run.get("cpu_ms_per_request", {}).get("java"),
        "workers_ms": run.get("cpu_ms_per_request", {}).get("workers"),
        "other": max(r["cores"]["other"] for r in result["closed"] + result["open"]),
        "peak_rss_mb": result["peak_rss_mb"],
    }


def line(name: str, rounds: list[dict[str, Any]], rate: float) -> str:
    """Medians over the rounds nothing else disturbed (over all rounds if none)."""
    undisturbed = [r for r in rounds if r["other"] <= DISTURBED_CORES]
    clean = undisturbed or rounds
    med = {
        key: float(np.median([r[key] for r in clean if r[key] is not None] or [np.nan]))
        for key in ("top", "p95", "jpeg_p95", "errors", "java_ms", "workers_ms")
    }
    tops = ", ".join(f"{r['top']:.0f}" for r in rounds)
    return (
        f"{name:20} top {med['top']:6.1f} req/s | open {rate:g}/s: p95 {med['p95']:7.1f} "
        f"jpeg p95 {med['jpeg_p95']:7.1f} errors {med['errors']:4.0f} | CPU ms/req workers "
        f"{med['workers_ms']:5.1f} java {med['java_ms']:4.1f} | {len(undisturbed)}/{len(rounds)} "
        f"undisturbed rounds, top per round: {tops}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--only", default="", help="comma-separated candidate names")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop req/s")
    parser.add_argument("--rounds", type=int, default=2, help="candidates run in turn")
    parser.add_argument("--wait-idle", type=float, default=120.0, help="per candidate, s")
    parser.add_argument("--out", type=Path, default=HERE / "report")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    for noisy in ("ai_detector", "ai_detector.serving.torchserve", "ai_detector.serving.archive"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    model_dir = args.model or resolve_model_dir(None)
    if not (model_dir / METADATA_FILE).is_file():
        model_dir = standin_model(args.out / "standin")
    names = args.only.split(",") if args.only else list(CANDIDATES)
    items = interleave(make_mix())
    plan = Plan(
        seconds=args.seconds,
        warmup_s=4.0,
        concurrency=(16, 32),
        rates=(args.rate,),
        skip_saturated=False,
    )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    # Candidates take turns, round after round, so a slow spell of the machine does not
    # land on one candidate only.
    for _ in range(args.rounds):
        for name in names:
            settings = parse_settings(CANDIDATES[name])
            work = Path(tempfile.mkdtemp(prefix=f"bench-tune-{name}-"))
            machine(args.wait_idle)
            log.info("candidate %s: %s", name, CANDIDATES[name])
            try:
                store = ours_archive(model_dir, work, settings)
                with local_torchserve(store, work, settings.properties, settings.env) as server:
                    results[name].append(score(measure_server(server, items, plan)))
            except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
                # One candidate that cannot start must not lose the others' results.
                log.error("candidate %s failed (%s); logs kept in %s", name, error, work)
                continue
            shutil.rmtree(work, ignore_errors=True)
            log.info("%s", line(name, results[name], args.rate))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune.json").write_text(json.dumps(results, indent=2) + "\n")
    table = [line(name, rounds, args.rate) for name, rounds in results.items() if rounds]
    log.info("\n%s", "\n".join(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
