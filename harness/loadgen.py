"""The one load generator: open loop at a fixed rate or closed loop with N connections,
every request on record (send time, latency, status, image kind).

    python -m harness.loadgen URL --rate 50 --seconds 10         # Poisson arrivals, 50 req/s
    python -m harness.loadgen URL --concurrency 8 --seconds 10   # 8 connections back to back
    run = asyncio.run(open_loop(url, items, rate=30, seconds=20))
    run.summary(), summarize(run.results)   # the benchmark's totals; the load test's goodput

Used by the benchmark (``bench.measure``, ``bench.sets``), ``loadtest.overload`` and the
fault test. ``items`` are bytes, or objects with ``data`` and ``kind`` (bench's ``Item``)
to tell latencies apart by kind. One event loop with keep-alive connections costs a few
percent of a core at 200 req/s, so the server keeps its CPU (the generator's is reported).
Arrivals do not wait for answers and latency runs from the scheduled time, so a generator
that falls behind shows up as latency. Each request keeps its own record, so a caller can
ask what happened around a moment (a killed worker, an overload's end). Bounds: ``seconds``
(and ``max_requests``), ``max_inflight`` open requests, ``timeout`` per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import numpy as np

from ai_detector.contract import auth_headers

log = logging.getLogger(__name__)

NO_ANSWER = 0  # a connection error or the client's timeout
DROPPED = -1  # never sent: max_inflight requests were already open


class Payload(Protocol):
    """An image with a kind (``bench.workload.Item``)."""

    @property
    def data(self) -> bytes: ...

    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class Result:
    sent_s: float  # scheduled send time, seconds since the run began
    latency_s: float
    status: int
    kind: str = ""


@dataclass(frozen=True)
class Run:
    """One run's records, in send order, with the time and the client CPU it took."""

    results: list[Result]
    elapsed_s: float  # open loop: the sending window (the tail of answers is not idle time)
    cpu_s: float

    def summary(self) -> dict[str, Any]:
        """Totals: 200s, errors by status (``no answer``, ``dropped``), throughput of the
        200s, the generator's own CPU share, latency percentiles (ms) overall and per kind."""
        ok = [r for r in self.results if r.status == 200]
        latencies = np.array([1000 * r.latency_s for r in ok])
        kinds = np.array([r.kind for r in ok])
        names = {NO_ANSWER: "no answer", DROPPED: "dropped"}
        errors = Counter(
            names.get(r.status, str(r.status)) for r in self.results if r.status != 200
        )
        seconds = self.elapsed_s
        result: dict[str, Any] = {
            "ok": len(ok),
            "errors": dict(errors),
            "seconds": round(seconds, 2),
            "throughput": round(len(ok) / seconds, 1) if seconds else 0.0,
            "loadgen_cpu": round(self.cpu_s / seconds, 3) if seconds else 0.0,
        }
        result |= percentiles(latencies)
        result["by_kind"] = {k: percentiles(latencies[kinds == k]) for k in sorted(set(kinds))}
        return result


def percentiles(latencies_ms: np.ndarray) -> dict[str, float | None]:
    if not len(latencies_ms):
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(latencies_ms, (50, 95, 99))
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


def _unpack(item: bytes | Payload) -> tuple[bytes, str]:
    return (item, "") if isinstance(item, bytes) else (item.data, item.kind)


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, began: float, sent: float, kind: str = ""
) -> Result:
    """One request, scheduled at ``sent``: its record, latency from ``sent``."""
    try:
        async with session.post(url, data=body) as response:
            await response.read()
            status = response.status
    except (TimeoutError, aiohttp.ClientError):
        status = NO_ANSWER
    return Result(sent - began, time.perf_counter() - sent, status, kind)


def _session(connections: int, timeout: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=timeout),
        headers={"Content-Type": "application/octet-stream", **auth_headers()},
    )


async def open_loop(
    url: str,
    items: Sequence[bytes | Payload],
    rate: float,
    seconds: float,
    timeout: float = 10.0,
    max_inflight: int = 512,
    seed: int = 0,
    max_requests: int | None = None,
) -> Run:
    """Poisson arrivals at ``rate`` req/s for ``seconds`` (and at most ``max_requests``);
    an arrival beyond ``max_inflight`` open requests is recorded as DROPPED, so a dead
    server cannot pile up tasks without bound."""
    rng = np.random.default_rng(seed)
    tasks: list[asyncio.Task[Result]] = []
    pending: set[asyncio.Task[Result]] = set()
    dropped: list[Result] = []
    async with _session(max_inflight, timeout) as session:
        began, cpu = time.perf_counter(), time.process_time()
        scheduled = began
        while max_requests is None or len(tasks) + len(dropped) < max_requests:
            scheduled += float(rng.exponential(1.0 / rate))
            if scheduled - began > seconds:
                break
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            if len(pending) >= max_inflight:
                dropped.append(Result(scheduled - began, 0.0, DROPPED))
                continue
            body, kind = _unpack(items[len(tasks) % len(items)])
            task = asyncio.create_task(post(session, url, body, began, scheduled, kind))
            tasks.append(task)
            pending.add(task)
            task.add_done_callback(pending.discard)
        sending_s = time.perf_counter() - began
        results = list(await asyncio.gather(*tasks))  # each bounded by the session's timeout
    records = sorted(results + dropped, key=lambda r: r.sent_s)
    return Run(records, sending_s, time.process_time() - cpu)


async def closed_loop(
    url: str,
    items: Sequence[bytes | Payload],
    connections: int,
    seconds: float,
    timeout: float = 10.0,
    max_requests: int | None = None,
) -> Run:
    """``connections`` clients, each sending its next request when the last one answers,
    for ``seconds`` (and at most ``max_requests`` in all)."""
    results: list[Result] = []
    limit = float("inf") if max_requests is None else max_requests
    sent = 0
    async with _session(connections, timeout) as session:
        began, cpu = time.perf_counter(), time.process_time()

        async def client() -> None:
            nonlocal sent
            while time.perf_counter() - began < seconds and sent < limit:
                body, kind = _unpack(items[sent % len(items)])
                sent += 1
                start = time.perf_counter()
                results.append(await post(session, url, body, began, start, kind))

        await asyncio.gather(*(client() for _ in range(connections)))
        elapsed = time.perf_counter() - began
    return Run(results, elapsed, time.process_time() - cpu)


def run_open_loop(
    url: str, items: Sequence[bytes | Payload], rate: float, seconds: float, **options: Any
) -> list[Result]:
    """:func:`open_loop` from synchronous code (a thread of a test): its records."""
    return asyncio.run(open_loop(url, items, rate, seconds, **options)).results


def saturated_rate(
    url: str,
    items: Sequence[bytes | Payload],
    connections: int = 16,
    seconds: float = 6.0,
    warmup: float = 4.0,
) -> float:
    """Answers per second (200s only) with ``connections`` clients that never pause, after
    ``warmup`` seconds of the same (a fresh server is slower for its first seconds)."""
    asyncio.run(closed_loop(url, items, connections, warmup))
    run = asyncio.run(closed_loop(url, items, connections, seconds))
    return sum(r.status == 200 for r in run.results) / run.elapsed_s


def summarize(results: list[Result], within_s: float = 1.0) -> dict[str, Any]:
    """Counts per status, the share answered 200 within ``within_s`` (goodput) and the
    latency percentiles of the 200s, in ms."""
    ok = np.array([r.latency_s for r in results if r.status == 200]) * 1000
    good = sum(r.status == 200 and r.latency_s <= within_s for r in results)
    quantiles = np.percentile(ok, (50, 95, 99)) if len(ok) else (np.nan,) * 3
    return {
        "requests": len(results),
        "statuses": dict(sorted(Counter(r.status for r in results).items())),
        "goodput": round(good / len(results), 3) if results else 0.0,
    } | {f"p{q}_ms": round(float(v), 1) for q, v in zip((50, 95, 99), quantiles, strict=True)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop req/s (0: closed)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=20_000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from harness.images import encode, photo_like

    # Eight photo-sized JPEGs; `python -m bench.run` sends the benchmark's full mix.
    items = [encode(photo_like(seed, 1024, 768), "JPEG", quality=90) for seed in range(8)]
    url, seconds, most = args.url, args.seconds, args.max_requests
    if args.rate:
        load = open_loop(url, items, args.rate, seconds, max_requests=most)
    else:
        load = closed_loop(url, items, args.concurrency, seconds, max_requests=most)
    log.info(json.dumps(asyncio.run(load).summary(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
