"""Try server settings on our TorchServe, one server per candidate, the same short load each.

    python -m bench.tune                          # every candidate (about 1 minute each)
    python -m bench.tune --only default,batch4 --seconds 20

Every candidate changes copies only (model-config.yaml, config.properties, worker env,
JVM options) inside a temp folder; the repository's files are never touched. Each gets a
warm-up, closed loops at 16 and 32 connections and an open loop at 150 req/s. Writes
``<out>/tune.json`` and prints one line per candidate.
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

from ai_detector.metadata import METADATA_FILE
from ai_detector.predictor import resolve_model_dir
from bench.measure import Plan, measure_server
from bench.run import HERE, parse_settings
from bench.servers import ours_archive, running
from bench.standin import standin_model
from bench.workload import interleave, make_mix

log = logging.getLogger("bench")

QUIET = f"-Dlog4j.configurationFile=file://{HERE / 'log4j2-quiet.xml'}"
LEAN_JVM = "-Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"
CANDIDATES: dict[str, list[str]] = {
    "default": [],
    "batch1": ["batchSize=1"],
    "batch4": ["batchSize=4"],
    "batch16": ["batchSize=16", "maxBatchDelay=10"],
    "delay2": ["maxBatchDelay=2"],
    "delay20": ["maxBatchDelay=20"],
    "workers3": ["minWorkers=3", "maxWorkers=3"],
    "workers1x2threads": ["minWorkers=1", "maxWorkers=1", "AI_DETECTOR_THREADS=2"],
    "netty1": ["number_of_netty_threads=1", "netty_client_threads=1"],
    "netty4": ["number_of_netty_threads=4", "netty_client_threads=4"],
    "quietlogs": [f"vmargs={QUIET}"],
    "quietlogs+leanjvm": [f"vmargs={QUIET} {LEAN_JVM}"],
}


def line(name: str, result: dict[str, Any]) -> str:
    closed = " ".join(
        f"c{run['concurrency']} {run['throughput']:6.1f}/s p95 {run['p95']!s:>6}"
        for run in result["closed"]
    )
    run = result["open"][0]
    jpeg = run["by_kind"].get("jpeg", {}).get("p95")
    per = run.get("cpu_ms_per_request", {})
    return (
        f"{name:20} {closed} | open {run['rate']:g}: {run['throughput']:6.1f}/s "
        f"p50 {run['p50']!s:>6} p95 {run['p95']!s:>6} jpeg p95 {jpeg!s:>6} "
        f"err {sum(run['errors'].values())} | ms/req workers {per.get('workers', 0):5.1f} "
        f"java {per.get('java', 0):4.1f} | other {run['cores']['other']:.2f} cores"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--only", default="", help="comma-separated candidate names")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--out", type=Path, default=HERE / "report")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    for noisy in ("ai_detector", "ai_detector.server", "ai_detector.package"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    model_dir = args.model or resolve_model_dir(None)
    if not (model_dir / METADATA_FILE).is_file():
        model_dir = standin_model(args.out / "standin")
    names = args.only.split(",") if args.only else list(CANDIDATES)
    items = interleave(make_mix())
    plan = Plan(seconds=args.seconds, warmup_s=4.0, concurrency=(16, 32), rates=(150.0,))
    results: dict[str, Any] = {}
    for name in names:
        settings = parse_settings(CANDIDATES[name])
        work = Path(tempfile.mkdtemp(prefix=f"bench-tune-{name}-"))
        log.info("candidate %s: %s", name, CANDIDATES[name])
        try:
            store = ours_archive(model_dir, work, settings)
            with running(store, work, settings) as server:
                results[name] = measure_server(server, items, plan)
        except (OSError, RuntimeError, subprocess.CalledProcessError) as error:
            # One candidate that cannot start must not lose the others' results.
            log.error("candidate %s failed (%s); logs kept in %s", name, error, work)
            continue
        shutil.rmtree(work, ignore_errors=True)
        log.info("%s", line(name, results[name]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune.json").write_text(json.dumps(results, indent=2) + "\n")
    log.info("\n%s", "\n".join(line(name, result) for name, result in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
