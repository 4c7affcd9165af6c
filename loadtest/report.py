"""The report of a load test: figures, ramp steps, objectives, summary.json, chart.png and the
logged verdict.

Used by loadtest/run.py (`make loadtest`) once Locust has finished: it reads requests.csv
(each request, written by the locustfile) and the rows of loadtest/sampling.py, and judges
them against loadtest/slo.yaml.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("loadtest")

SETTLE_S = 3.0  # as the locustfile's STEP_SETTLE_S: the start of each ramp step is left out


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
