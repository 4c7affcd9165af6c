"""Open-loop load with every request on record, for the fault test and the overload script.

    results = run_open_loop(url, bodies, rate=30, seconds=20)   # Poisson arrivals, 30 req/s
    capacity = saturated_rate(url, bodies)
    summarize(results)  # counts per status, goodput within 1 s, latency percentiles

Unlike Locust's users or bench.loadgen's totals, each request keeps its send time, its
latency and its status (0: no answer: a connection error or the client's timeout), so a
caller can ask what happened around a moment (a killed worker, the end of an overload).
Arrivals follow a schedule that does not wait for answers, and latency runs from the
scheduled time, so a client that falls behind shows up as latency. Every run is bounded by
``seconds``, by ``max_inflight`` open requests and by ``timeout`` per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp
import numpy as np

from ai_detector.contract import auth_headers

NO_ANSWER = 0
DROPPED = -1  # never sent: max_inflight requests were already open


@dataclass(frozen=True)
class Result:
    sent_s: float  # scheduled send time, seconds since the run began
    latency_s: float
    status: int


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, began: float, sent: float
) -> Result:
    try:
        async with session.post(url, data=body) as response:
            await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError):
        status = NO_ANSWER
    return Result(sent - began, time.perf_counter() - sent, status)


def _session(connections: int, timeout: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"Content-Type": "application/octet-stream", **auth_headers()},
    )


async def open_loop(
    url: str,
    bodies: list[bytes],
    rate: float,
    seconds: float,
    timeout: float = 10.0,
    max_inflight: int = 512,
    seed: int = 0,
) -> list[Result]:
    """Poisson arrivals at ``rate`` req/s for ``seconds``; results in send order."""
    rng = np.random.default_rng(seed)
    tasks: list[asyncio.Task[Result]] = []
    pending: set[asyncio.Task[Result]] = set()
    dropped: list[Result] = []
    async with _session(max_inflight, timeout) as session:
        began = scheduled = time.perf_counter()
        while True:
            scheduled += float(rng.exponential(1.0 / rate))
            if scheduled - began > seconds:
                break
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            if len(pending) >= max_inflight:
                dropped.append(Result(scheduled - began, 0.0, DROPPED))
                continue
            body = bodies[len(tasks) % len(bodies)]
            task = asyncio.create_task(post(session, url, body, began, scheduled))
            tasks.append(task)
            pending.add(task)
            task.add_done_callback(pending.discard)
        results = list(await asyncio.gather(*tasks))
    return sorted(results + dropped, key=lambda r: r.sent_s)


async def closed_loop(
    url: str, bodies: list[bytes], connections: int, seconds: float, timeout: float = 10.0
) -> tuple[list[Result], float]:
    """``connections`` clients back to back for ``seconds``: results and the elapsed time."""
    results: list[Result] = []
    async with _session(connections, timeout) as session:
        began = time.perf_counter()

        async def client(offset: int) -> None:
            index = offset
            while time.perf_counter() - began < seconds:
                body = bodies[index % len(bodies)]
                results.append(await post(session, url, body, began, time.perf_counter()))
                index += connections

        await asyncio.gather(*(client(i) for i in range(connections)))
        return results, time.perf_counter() - began


def run_open_loop(
    url: str, bodies: list[bytes], rate: float, seconds: float, **options: Any
) -> list[Result]:
    return asyncio.run(open_loop(url, bodies, rate, seconds, **options))


def saturated_rate(
    url: str, bodies: list[bytes], connections: int = 16, seconds: float = 6.0, warmup: float = 4.0
) -> float:
    """Answers per second (200s only) with ``connections`` clients that never pause, after
    ``warmup`` seconds of the same (a fresh server is slower for its first seconds)."""
    asyncio.run(closed_loop(url, bodies, connections, warmup))
    results, elapsed = asyncio.run(closed_loop(url, bodies, connections, seconds))
    return sum(r.status == 200 for r in results) / elapsed


def summarize(results: list[Result], within_s: float = 1.0) -> dict[str, Any]:
    """Counts per status, the share answered 200 within ``within_s`` (goodput) and the
    latency percentiles of the 200s, in ms."""
    ok = np.array([r.latency_s for r in results if r.status == 200]) * 1000
    good = sum(r.status == 200 and r.latency_s <= within_s for r in results)
    p50, p95, p99 = np.percentile(ok, (50, 95, 99)) if len(ok) else (np.nan,) * 3
    return {
        "requests": len(results),
        "statuses": dict(sorted(Counter(r.status for r in results).items())),
        "goodput": round(good / len(results), 3) if results else 0.0,
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
    }
