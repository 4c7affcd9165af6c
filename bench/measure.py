"""One server under load: closed-loop runs to find its top throughput, open-loop runs at
fixed rates for latency, and what every party spent meanwhile.

    python -m bench.run   # calls measure_server() for ours and for the baseline

Between runs the server is given time to drain what an overloaded run left queued, so
one run's backlog never lands in the next one's latencies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from harness.loadgen import Run, closed_loop, open_loop

from ai_detector.serving.torchserve import Server
from bench.servers import Probe

log = logging.getLogger("bench")

SATURATED = 2.0


@dataclass(frozen=True)
class Plan:
    seconds: float = 15.0
    warmup_s: float = 5.0
    concurrency: tuple[int, ...] = (2, 8, 16, 32)
    rates: tuple[float, ...] = (50.0, 100.0, 150.0)
    timeout: float = 10.0
    max_requests: int = 20_000  # per run, beside the time bound
    max_inflight: int = 256  # open loop: arrivals beyond this many open requests are dropped
    drain_s: float = 30.0
    skip_saturated: bool = True


def drain(server: Server, items: list[Any], limit_s: float = 30.0) -> None:
    """Wait (bounded) until a lone request is answered within a second again."""
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        lone = asyncio.run(closed_loop(server.predict_url, items[:1], 1, 0.1, limit_s, 1))
        if lone.results and lone.results[0].status == 200 and lone.results[0].latency_s < 1:
            return
        time.sleep(0.5)
    log.warning("the server still had a backlog after %.0f s", limit_s)


def _run(probe: Probe, name: str, load: Any) -> dict[str, Any]:
    before = probe.snapshot()
    run: Run = asyncio.run(load)
    stats = {"run": name, **run.summary()}
    stats |= probe.delta(before, stats["ok"])
    log.info(
        "  %-12s %6.1f req/s  p50 %6s  p95 %6s  p99 %6s ms  errors %s  cores: workers %.2f"
        " java %.2f loadgen %.2f other %.2f",
        name,
        stats["throughput"],
        stats["p50"],
        stats["p95"],
        stats["p99"],
        sum(stats["errors"].values()),
        stats["cores"]["workers"],
        stats["cores"]["java"],
        stats["cores"]["self"],
        stats["cores"]["other"],
    )
    return stats


def open_loop_of(plan: Plan, url: str, items: list[Any], rate: float) -> Any:
    """The plan's open-loop run at ``rate`` (a coroutine for :func:`_run`)."""
    return open_loop(
        url,
        items,
        rate,
        plan.seconds,
        timeout=plan.timeout,
        max_inflight=plan.max_inflight,
        max_requests=plan.max_requests,
    )


def measure_server(server: Server, items: list[Any], plan: Plan) -> dict[str, Any]:
    """Closed-loop runs at each concurrency, then open-loop runs at each rate."""
    probe = Probe(server)
    url = server.predict_url
    asyncio.run(closed_loop(url, items, 4, plan.warmup_s, plan.timeout, plan.max_requests))
    closed, opened = [], []
    for concurrency in plan.concurrency:
        load = closed_loop(url, items, concurrency, plan.seconds, plan.timeout, plan.max_requests)
        closed.append({"concurrency": concurrency, **_run(probe, f"closed c={concurrency}", load)})
        drain(server, items, plan.drain_s)
    for rate in plan.rates:
        top = max(run["throughput"] for run in closed)
        if plan.skip_saturated and rate > SATURATED * top:
            # Far past what the server can do: only 503s and timeouts, and a backlog that
            # takes minutes to drain. Recorded as skipped rather than run.
            log.info("  %-12s skipped: over %g x the top closed-loop throughput", rate, SATURATED)
            opened.append({"rate": rate, "run": f"open {rate:g}/s", "skipped": True})
            continue
        load = open_loop_of(plan, url, items, rate)
        opened.append({"rate": rate, **_run(probe, f"open {rate:g}/s", load)})
        drain(server, items, plan.drain_s)
    best = max(closed, key=lambda run: run["throughput"])
    return {
        "closed": closed,
        "open": opened,
        "max_throughput": best["throughput"],
        "best_concurrency": best["concurrency"],
        "peak_rss_mb": probe.peak_rss,
    }
