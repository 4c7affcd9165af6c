"""`make loadtest`: Locust against ai-detector, with the CPU and memory of TorchServe and of
Locust itself, a report, and the objectives of loadtest/slo.yaml checked.

    python -m loadtest.run                  # steady load of loadtest/locust.conf (51 req/s, 60 s)
    python -m loadtest.run --shape ramp     # rising steps: the highest rate that holds the p95
    python -m loadtest.run --host http://127.0.0.1:8080 --users 4 --run-time 20s --out /tmp/r

If nothing answers at the host's /ping it builds the archive, starts TorchServe with
config.properties and stops it at the end. The report folder (default loadtest/report) gets
Locust's CSV and HTML, requests.csv (each request), resources.csv (CPU and memory each second),
summary.json and chart.png. Exit status: 0 objectives met, 1 one missed (each is logged),
2 the run itself failed.
"""

from __future__ import annotations

import argparse
import csv
import logging
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from harness.processes import cpus_given, listener

from ai_detector.contract import read_properties
from ai_detector.serving.torchserve import venv_tool
from loadtest.report import (
    chart,
    max_holding_rate,
    objectives,
    ramp_steps,
    read_csv,
    report,
    summarise,
)
from loadtest.sampling import run_locust

log = logging.getLogger("loadtest")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOCUST_OPTIONS = ("users", "user_rate", "run_time", "ramp_rates", "step_time", "images")


def answers(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"{host}/ping", timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_server(host: str) -> Path:
    """Build the archive and start TorchServe as `make serve` does; returns its log folder."""
    from ai_detector.contract import MODEL_NAME
    from ai_detector.inference.predictor import resolve_model_dir
    from ai_detector.serving.archive import build_archive
    from ai_detector.serving.torchserve import start

    config = ROOT / "config.properties"
    if read_properties(config).get("inference_address") != host:
        raise RuntimeError(f"nothing answers at {host} and config.properties does not serve it")
    log.info("nothing answers at %s: starting TorchServe", host)
    build_archive(resolve_model_dir(None), ROOT / "build" / "model_store")
    start(config, ROOT / "build" / "model_store", MODEL_NAME, ROOT / "logs")
    return ROOT / "logs"


def locust_command(args: argparse.Namespace, host: str, out: Path, slo: dict) -> list[str]:
    command = [venv_tool("locust"), "--config", str(HERE / "locust.conf")]
    command += ["-f", str(HERE / "locustfile.py"), "--host", host, "--headless", "--only-summary"]
    command += ["--csv", str(out / "locust"), "--csv-full-history"]
    command += ["--html", str(out / "locust.html"), "--samples-file", str(out / "requests.csv")]
    command += ["--shape", args.shape, "--p95-ms", str(slo["p95_ms"])]
    command += ["--exit-code-on-error", "0"]  # failed requests are judged here, not by Locust
    for option in LOCUST_OPTIONS:
        if getattr(args, option) is not None:
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    return command


def parse_args(argv: list[str] | None, conf: dict[str, str]) -> argparse.Namespace:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--host", default=conf["host"])
    parser.add_argument("--shape", choices=["steady", "ramp"], default=conf["shape"])
    parser.add_argument("--users", type=int)
    parser.add_argument("--user-rate", type=float, help="requests/s of each user")
    parser.add_argument("--run-time", help="length of the steady run, e.g. 60s or 2m")
    parser.add_argument("--ramp-rates", help="req/s of each ramp step, e.g. 30,50,70")
    parser.add_argument("--step-time", type=float, help="seconds per ramp step")
    parser.add_argument("--images", help="folder of real images to send instead of synthetic ones")
    parser.add_argument("--slo", type=Path, default=HERE / "slo.yaml")
    parser.add_argument("--out", type=Path, default=HERE / "report")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    conf = read_properties(HERE / "locust.conf")
    args = parse_args(argv, conf)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    slo, host, out = yaml.safe_load(args.slo.read_text()), args.host.rstrip("/"), args.out.resolve()
    rates = [float(r) for r in (args.ramp_rates or conf["ramp-rates"]).split(",")]
    step_time = args.step_time or float(conf["step-time"])
    spans = re.findall(r"(\d+)\s*([hms]?)", args.run_time or conf["run-time"])
    run_time = sum(int(n) * {"h": 3600, "m": 60}.get(unit, 1) for n, unit in spans)
    budget = len(rates) * step_time if args.shape == "ramp" else run_time
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("summary.json", "chart.png", "requests.csv", "resources.csv"):
        (out / stale).unlink(missing_ok=True)
    started = None
    try:
        if not answers(host):
            started = start_server(host)
        server = listener(urlsplit(host).port or 80)
        cpus = float(slo.get("cpus") or cpus_given(server))
        log.info("%s load on %s for about %.0f s", args.shape, host, budget)
        resources = run_locust(locust_command(args, host, out, slo), server, budget + 120, ROOT)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        log.error("the load test did not run: %s", error)
        return 2
    finally:
        if started is not None:
            from ai_detector.serving.torchserve import stop

            stop(started)
    if not resources or not (out / "requests.csv").is_file() or not read_csv(out / "requests.csv"):
        log.error("Locust recorded no requests: see its output above")
        return 2
    with (out / "resources.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(resources[0]))
        writer.writeheader()
        writer.writerows(resources)
    samples = read_csv(out / "requests.csv")
    if args.shape == "steady":  # Locust stops at the first 1 s tick after the run time
        samples = [r for r in samples if float(r["t"]) < run_time] or samples
    seconds = run_time if args.shape == "steady" else max(float(r["t"]) for r in samples)
    summary = {"shape": args.shape, "host": host} | summarise(samples, seconds, resources, cpus)
    if args.shape == "ramp":
        steps = ramp_steps(samples, rates, step_time, slo)
        summary["ramp"] = {"max_rate": max_holding_rate(steps), "steps": steps}
    summary["objectives"] = objectives(summary, slo)
    summary["passed"] = all(item["ok"] for item in summary["objectives"])
    chart(out, resources, slo, cpus, step_time if args.shape == "ramp" else 0.0)
    report(out, summary)
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
