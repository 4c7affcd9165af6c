"""`make loadtest`: Locust against ai-detector, with the CPU and memory of TorchServe and of
Locust itself, a report, and the objectives of loadtest/slo.yaml checked.

    python loadtest/run.py                  # steady load of loadtest/locust.conf (51 req/s, 60 s)
    python loadtest/run.py --shape ramp     # rising steps: the highest rate that holds the p95
    python loadtest/run.py --host http://127.0.0.1:8080 --users 4 --run-time 20s --out /tmp/r

If nothing answers at the host's /ping it builds the archive, starts TorchServe with
config.properties and stops it at the end. The report folder (default loadtest/report) gets
Locust's CSV and HTML, requests.csv (each request), resources.csv (CPU and memory each second),
summary.json and chart.png. Exit status: 0 objectives met, 1 one missed (each is logged),
2 the run itself failed.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import psutil
import yaml

from ai_detector.server import read_properties, venv_tool

log = logging.getLogger("loadtest")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SETTLE_S = 3.0  # as the locustfile's STEP_SETTLE_S: the start of each ramp step is left out
LOCUST_OPTIONS = ("users", "user_rate", "run_time", "ramp_rates", "step_time", "images")


def answers(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"{host}/ping", timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_server(host: str) -> Path:
    """Build the archive and start TorchServe as `make serve` does; returns its log folder."""
    from ai_detector.package import build_archive
    from ai_detector.predictor import resolve_model_dir
    from ai_detector.server import start

    config = ROOT / "config.properties"
    if read_properties(config).get("inference_address") != host:
        raise RuntimeError(f"nothing answers at {host} and config.properties does not serve it")
    log.info("nothing answers at %s: starting TorchServe", host)
    build_archive(resolve_model_dir(None), ROOT / "model_store", "ai-detector")
    start(config, ROOT / "model_store", "ai-detector", ROOT / "logs")
    return ROOT / "logs"


def listener(port: int) -> psutil.Process:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    raise RuntimeError(f"no process of this user listens on port {port}")


def cpus_given(proc: psutil.Process) -> float:
    cpus = float(len(proc.cpu_affinity() or [0]))
    try:  # a cgroup v2 quota (containers) can give less than the visible cores
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        cpus = min(cpus, int(quota) / int(period)) if quota != "max" else cpus
    except (OSError, ValueError):
        pass
    return cpus


class Sampler:
    """CPU and RSS of a process tree, listed anew each time so restarted workers count."""

    def __init__(self, root: psutil.Process) -> None:
        self.root = root
        self.known: dict[int, psutil.Process] = {}

    def sample(self) -> tuple[float, float, int]:
        """(CPU % of one core since the last call, RSS MiB, process count)."""
        cpu = rss = 0.0
        try:
            tree = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for found in tree:
            proc = self.known.setdefault(found.pid, found)  # cpu_percent needs the same object
            try:
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss / 2**20
            except psutil.Error:
                continue
        return cpu, rss, len(tree)


def run_locust(command: list[str], server: psutil.Process, timeout: float) -> list[dict]:
    """Run Locust to its end, sampling the server and Locust once a second."""
    locust = subprocess.Popen(command, cwd=ROOT)
    samplers = {"server": Sampler(server), "locust": Sampler(psutil.Process(locust.pid))}
    psutil.cpu_percent(None)
    rows: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while locust.poll() is None and time.monotonic() < deadline:
            time.sleep(1.0)
            row: dict[str, float] = {"time": time.time()}
            machine = psutil.cpu_percent(None) * (psutil.cpu_count() or 1)
            for name, sampler in samplers.items():
                row[f"{name}_cpu"], row[f"{name}_rss_mb"], row[f"{name}_procs"] = sampler.sample()
            # Whatever else runs on the machine competes for the cores and slows the server.
            row["other_cpu"] = max(0.0, machine - row["server_cpu"] - row["locust_cpu"])
            rows.append(row)
    finally:
        if locust.poll() is None:
            log.error("Locust overran its time: stopping it")
            locust.terminate()
        if locust.wait(timeout=30) != 0:
            raise RuntimeError(f"Locust exited with status {locust.returncode}")
    return rows[1:]  # the first sample only primed the CPU counters


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def request_stats(rows: list[dict[str, str]], seconds: float) -> dict[str, Any]:
    """Count, rate, failures and latency percentiles (exact, from requests.csv rows)."""
    times = np.array([float(r["response_ms"]) for r in rows])
    failures = sum(r["ok"] != "1" for r in rows)
    stats = {"requests": len(rows), "failures": failures, "rps": round(len(rows) / seconds, 2)}
    stats["failure_ratio"] = round(failures / len(rows), 5)
    stats |= {f"p{q}_ms": round(float(np.percentile(times, q)), 1) for q in (50, 95, 99)}
    return stats | {
        "mean_ms": round(float(times.mean()), 1),
        "max_ms": round(float(times.max()), 1),
    }


def summarise(
    samples: list[dict[str, str]], seconds: float, resources: list[dict], cpus: float
) -> dict[str, Any]:
    starts = [float(r["start"]) for r in samples]
    # CPU while requests flow: Locust's start-up and the summary at the end are idle time.
    busy = [r for r in resources if min(starts) <= r["time"] <= max(starts) + 1] or resources

    def usage(name: str) -> dict[str, float]:
        cores = np.array([r[f"{name}_cpu"] for r in busy]) / 100
        return {
            "cpu_percent_mean": round(100 * float(cores.mean()) / cpus, 1),
            "cpu_percent_max": round(100 * float(cores.max()) / cpus, 1),
            "cpu_cores_mean": round(float(cores.mean()), 3),
            "peak_rss_mb": round(max(r[f"{name}_rss_mb"] for r in resources), 1),
        }

    return request_stats(samples, seconds) | {
        "seconds": seconds,
        "cpus_given": cpus,
        "server": usage("server") | {"processes": int(max(r["server_procs"] for r in resources))},
        "locust": usage("locust"),
        "other_cpu_cores_mean": round(float(np.mean([r["other_cpu"] for r in busy])) / 100, 3),
    }


def ramp_steps(
    samples: list[dict[str, str]], rates: list[float], step_time: float, slo: dict[str, float]
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for index, rate in enumerate(rates):
        begin = index * step_time + SETTLE_S
        kept = [r for r in samples if int(r["step"]) == index and float(r["t"]) >= begin]
        if not kept or max(float(r["t"]) for r in kept) < (index + 0.8) * step_time:
            break  # the step the ramp stopped in, cut short: it says nothing
        step = {"rate": rate, "users": int(kept[0]["users"])}
        step |= request_stats(kept, step_time - SETTLE_S)
        step["ok"] = step["p95_ms"] <= slo["p95_ms"] and (
            step["failure_ratio"] <= slo["max_failure_ratio"]
        )
        steps.append(step)
    return steps


def max_holding_rate(steps: list[dict[str, Any]]) -> float | None:
    """The highest step rate before the first step that misses: later passes are luck."""
    first_miss = next((i for i, step in enumerate(steps) if not step["ok"]), len(steps))
    return max((step["rate"] for step in steps[:first_miss]), default=None)


def objectives(summary: dict[str, Any], slo: dict[str, float]) -> list[dict[str, Any]]:
    """Each objective with its measured value; in a ramp, only the rate that holds the p95."""
    cpu_unit = f"% of {summary['cpus_given']:g} CPUs"
    if "ramp" in summary:
        limits = [("rate holding p95", summary["ramp"]["max_rate"] or 0, ">=", "min_rps", "req/s")]
    else:
        limits = [
            ("p95 latency", summary["p95_ms"], "<=", "p95_ms", "ms"),
            ("throughput", summary["rps"], ">=", "min_rps", "req/s"),
            ("failure ratio", summary["failure_ratio"], "<=", "max_failure_ratio", ""),
            (
                "server CPU",
                summary["server"]["cpu_percent_mean"],
                "<=",
                "max_cpu_percent",
                cpu_unit,
            ),
        ]
    return [
        {
            "name": name,
            "value": value,
            "limit": f"{op} {slo[key]:g} {unit}".strip(),
            "ok": bool(value <= slo[key] if op == "<=" else value >= slo[key]),
        }
        for name, value, op, key, unit in limits
    ]


def chart(out: Path, resources: list[dict], slo: dict, cpus: float, step_time: float) -> None:
    """Latency (p50/p95 per 5 s), throughput per second and CPU over time, in chart.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    samples = read_csv(out / "requests.csv")
    t = np.array([float(r["t"]) for r in samples])
    t0 = float(samples[0]["start"]) - t[0]  # epoch of the load's start, to place CPU samples
    times, second = np.array([float(r["response_ms"]) for r in samples]), t.astype(int)
    failed = np.array([r["ok"] != "1" for r in samples])
    fig, (lat, thr, cpu) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    windows = np.unique(second // 5)
    for q in (50, 95):
        values = [np.percentile(times[second // 5 == w], q) for w in windows]
        lat.plot(windows * 5 + 2.5, values, marker=".", label=f"p{q} per 5 s")
    lat.axhline(slo["p95_ms"], color="red", linestyle="--", label="p95 objective")
    lat.set(ylabel="latency (ms)", yscale="log", title="ai-detector load test")
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # 200, not 2x10^2
    lat.yaxis.set_major_formatter(plain)
    lat.yaxis.set_minor_formatter(plain)
    thr.plot(np.bincount(second), label="requests/s")
    thr.plot(np.bincount(second[failed], minlength=second.max() + 1), label="failures/s")
    thr.axhline(slo["min_rps"], color="red", linestyle="--", label="throughput objective")
    thr.set(ylabel="requests per second", ylim=(0, None))
    rt = np.array([r["time"] for r in resources]) - t0
    for name in ("server", "locust", "other"):
        cpu.plot(rt, [r[f"{name}_cpu"] / cpus for r in resources], label=f"{name} CPU")
    cpu.axhline(slo["max_cpu_percent"], color="red", linestyle="--", label="server CPU objective")
    cpu.set(ylabel=f"% of {cpus:g} CPUs", xlabel="seconds since the load started", ylim=(0, 105))
    for axis in (lat, thr, cpu):
        for edge in np.arange(step_time, t.max(), step_time) if step_time else []:
            axis.axvline(edge, color="grey", linewidth=0.8)  # ramp steps
        axis.grid(alpha=0.3)
        axis.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    fig.savefig(out / "chart.png", dpi=100)
    plt.close(fig)


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


def report(out: Path, summary: dict[str, Any]) -> None:
    """The human summary: the figures, then each objective as ok or MISSED."""
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    server = summary["server"]
    log.info(
        "%d requests, %.1f req/s, %.2f%% failed; p50 %g ms, p95 %g ms, p99 %g ms",
        *(summary["requests"], summary["rps"], 100 * summary["failure_ratio"]),
        *(summary["p50_ms"], summary["p95_ms"], summary["p99_ms"]),
    )
    log.info(
        "server CPU %.0f%% of %g CPUs (max %.0f%%), peak RSS %.0f MiB; Locust CPU %.0f%%",
        *(server["cpu_percent_mean"], summary["cpus_given"], server["cpu_percent_max"]),
        *(server["peak_rss_mb"], summary["locust"]["cpu_percent_mean"]),
    )
    if summary["other_cpu_cores_mean"] > 0.2:
        log.warning("other processes used %.2f cores meanwhile", summary["other_cpu_cores_mean"])
    for step in summary.get("ramp", {}).get("steps", []):
        verdict = "holds" if step["ok"] else "MISSES"
        log.info(
            "step %g req/s: p95 %g ms, %s the objective", step["rate"], step["p95_ms"], verdict
        )
    for item in summary["objectives"]:
        verdict = "ok" if item["ok"] else "MISSED"
        log.info("%-6s %s: %g (objective %s)", verdict, item["name"], item["value"], item["limit"])
    log.info("report: %s", out)


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
        resources = run_locust(locust_command(args, host, out, slo), server, budget + 120)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        log.error("the load test did not run: %s", error)
        return 2
    finally:
        if started is not None:
            from ai_detector.server import stop

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
