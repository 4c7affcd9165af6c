"""A light asyncio load generator: open loop at a fixed rate, or closed loop with N connections.

    python -m bench.loadgen URL --rate 50 --seconds 10       # Poisson arrivals at 50 req/s
    python -m bench.loadgen URL --concurrency 8 --seconds 10  # 8 connections back to back

One event loop and keep-alive connections cost a few percent of a core at 200 req/s, so
the generator leaves the server its CPU (its own CPU time is reported beside the numbers).
Open-loop latency runs from each request's scheduled time, not from when it was sent, so a
generator that falls behind shows up as latency instead of hiding it. Every run is bounded
twice: by ``seconds`` and by ``max_requests``; each request by ``timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

log = logging.getLogger("bench")


@dataclass
class Outcome:
    """What one run saw: latencies of the 200s (with their image kind) and the failures."""

    latencies_ms: list[float] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    cpu_s: float = 0.0

    def record(self, start: float, kind: str, status: int) -> None:
        if status == 200:
            self.latencies_ms.append(1000 * (time.perf_counter() - start))
            self.kinds.append(kind)
        else:
            self.errors[str(status)] += 1

    def summary(self) -> dict[str, Any]:
        latencies = np.asarray(self.latencies_ms)
        kinds = np.asarray(self.kinds)
        result: dict[str, Any] = {
            "ok": len(latencies),
            "errors": dict(self.errors),
            "seconds": round(self.elapsed_s, 2),
            "throughput": round(len(latencies) / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "loadgen_cpu": round(self.cpu_s / self.elapsed_s, 3) if self.elapsed_s else 0.0,
        }
        result |= percentiles(latencies)
        result["by_kind"] = {k: percentiles(latencies[kinds == k]) for k in sorted(set(self.kinds))}
        return result


def percentiles(latencies: np.ndarray) -> dict[str, float | None]:
    if not len(latencies):
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(latencies, (50, 95, 99))
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


async def _post(
    session: aiohttp.ClientSession, url: str, item: Any, start: float, outcome: Outcome
) -> None:
    try:
        async with session.post(url, data=item.data) as response:
            await response.read()
            outcome.record(start, item.kind, response.status)
    except (TimeoutError, aiohttp.ClientError) as error:
        outcome.errors[type(error).__name__] += 1


def _session(connections: int, timeout: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, force_close=False),
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"Content-Type": "application/octet-stream"},
    )


async def closed_loop(
    url: str, items: list[Any], concurrency: int, seconds: float, max_requests: int, timeout: float
) -> Outcome:
    """``concurrency`` connections, each sending its next request when the last answers."""
    outcome, sent = Outcome(), 0
    deadline = time.perf_counter() + seconds

    async def connection(session: aiohttp.ClientSession) -> None:
        nonlocal sent
        while time.perf_counter() < deadline and sent < max_requests:
            item = items[sent % len(items)]
            sent += 1
            await _post(session, url, item, time.perf_counter(), outcome)

    async with _session(concurrency, timeout) as session:
        began, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(connection(session) for _ in range(concurrency)))
        outcome.elapsed_s, outcome.cpu_s = time.perf_counter() - began, time.process_time() - cpu
    return outcome


async def open_loop(
    url: str,
    items: list[Any],
    rate: float,
    seconds: float,
    max_requests: int,
    timeout: float,
    max_inflight: int = 256,
    seed: int = 0,
) -> Outcome:
    """Poisson arrivals at ``rate`` req/s; at most ``max_inflight`` requests open at once
    (beyond that an arrival is counted as ``dropped``, so a dead server cannot pile up
    tasks without bound)."""
    outcome = Outcome()
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, size=max_requests)
    tasks: set[asyncio.Task[None]] = set()
    async with _session(max_inflight, timeout) as session:
        began, cpu = time.perf_counter(), time.process_time()
        scheduled = began
        for index, gap in enumerate(gaps):
            scheduled += float(gap)
            if scheduled - began > seconds:
                break
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            if len(tasks) >= max_inflight:
                outcome.errors["dropped"] += 1
                continue
            task = asyncio.create_task(
                _post(session, url, items[index % len(items)], scheduled, outcome)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sending_s = time.perf_counter() - began
        if tasks:
            await asyncio.wait(tasks, timeout=timeout + 1)
        outcome.cpu_s = time.process_time() - cpu
        # Throughput over the sending window: the tail of answers is not idle time.
        outcome.elapsed_s = sending_s
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop req/s (0: closed)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=20_000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from bench.workload import interleave, make_mix

    items = interleave(make_mix())
    if args.rate:
        run = open_loop(args.url, items, args.rate, args.seconds, args.max_requests, 10.0)
    else:
        run = closed_loop(args.url, items, args.concurrency, args.seconds, args.max_requests, 10.0)
    log.info(json.dumps(asyncio.run(run).summary(), indent=2))


if __name__ == "__main__":
    main()
