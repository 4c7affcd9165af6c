"""Overload: twice the saturated rate against TorchServe, for a few job_queue_size values.

    python -m loadtest.overload            # job_queue_size: the config's (40), 100, 20
    python -m loadtest.overload --queues 100 40 --seconds 15 --out overload.json

For each queue size it starts TorchServe with the served model on free 127.0.0.1 ports
(config.properties with that job_queue_size) and measures its saturated rate (16 clients
back to back, 6 s, after 4 s of warm-up). The offered overload is twice the first server's
saturated rate (or --rate), the same for every queue size so that they compare on a noisy
machine. Each server first gets 10 s at 0.4 of it (0.8x saturation: a queue too small
sheds bursts there), then the overload as Poisson arrivals for --seconds (at most 60; 20
by default); the moment it stops sending, probes go out one at a time until one gets a
200. Printed per queue size: the 503s at 0.8x, the answers by status (0: none within the
10 s client timeout), the goodput (share of all requests answered 200 within 1 s), the
latency of the 200s, the first request after the overload and how long until a 200; the
CPU is named. --out: as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from harness.loadgen import NO_ANSWER, Result, open_loop, post, saturated_rate, summarize
from harness.processes import cpu_name
from harness.servers import ROOT, archive, local_torchserve

from ai_detector.contract import read_properties

# Run as a script, loadtest/ is first on the path; the loadtest package needs the root.
from ai_detector.inference.predictor import resolve_model_dir
from loadtest.traffic import synthetic_payloads

log = logging.getLogger("loadtest")

MAX_SECONDS = 60.0
CLIENT_TIMEOUT_S = 10.0
PROBE_LIMIT_S = 30.0
# Before each overload: 10 s at 0.4 of it (0.8 of the saturated rate), where a queue that is
# too small would already answer 503 to bursts the workers could have absorbed.
NORMAL_LOAD, NORMAL_S = 0.4, 10.0


async def probes_after(url: str, body: bytes, delay: float) -> tuple[int, float, float]:
    """From ``delay`` seconds on, one request at a time on a new connection until one gets
    a 200 (at most PROBE_LIMIT_S): the first one's status and latency, and the time from
    ``delay`` until that 200."""
    await asyncio.sleep(delay)
    began = time.perf_counter()
    first: tuple[int, float] | None = None
    headers = {"Content-Type": "application/octet-stream"}
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True),
        timeout=aiohttp.ClientTimeout(total=PROBE_LIMIT_S),
        headers=headers,
    ) as session:
        while time.perf_counter() - began < PROBE_LIMIT_S:
            answer = await post(session, url, body, began, time.perf_counter())
            status = answer.status
            first = first or (status, answer.latency_s)
            if status == 200:
                break
            await asyncio.sleep(0.05)
    first = first or (NO_ANSWER, PROBE_LIMIT_S)
    return first[0], first[1], time.perf_counter() - began


async def phase(
    url: str, bodies: list[bytes], rate: float, seconds: float
) -> tuple[list[Result], tuple[int, float, float]]:
    loop, probe = await asyncio.gather(
        open_loop(url, bodies, rate, seconds, timeout=CLIENT_TIMEOUT_S, max_inflight=2048),
        probes_after(url, bodies[0], seconds),
    )
    return loop.results, probe


def measure(
    queue: int, seconds: float, work: Path, bodies: list[bytes], offered: float | None
) -> dict[str, Any]:
    """One server with this queue size: its saturated rate, NORMAL_LOAD of the offered
    overload for NORMAL_S seconds (does the queue shed what it should not?), then the
    overload. ``offered`` None: twice this server's saturated rate."""
    store = archive(resolve_model_dir(None), work / "store")
    properties = {"job_queue_size": str(queue)}
    with local_torchserve(store, work / f"queue{queue}", properties, timeout=180) as server:
        url = server.predict_url
        saturated = saturated_rate(url, bodies)
        rate = offered or 2 * saturated
        normal, _ = asyncio.run(phase(url, bodies, NORMAL_LOAD * rate, NORMAL_S))
        time.sleep(2)  # let the normal phase's queue drain
        cpu_before = time.process_time()
        results, (status, first_s, until_200_s) = asyncio.run(phase(url, bodies, rate, seconds))
        client_cpu = (time.process_time() - cpu_before) / seconds
    return {
        "job_queue_size": queue,
        "saturated_rps": round(saturated, 1),
        "offered_rps": round(rate, 1),
        "normal": {"offered_rps": round(NORMAL_LOAD * rate, 1), **summarize(normal)},
        **summarize(results, within_s=1.0),
        "answered_200_rps": round(sum(r.status == 200 for r in results) / seconds, 1),
        "first_after": {"status": status, "ms": round(1000 * first_s, 1)},
        "first_200_after_ms": round(1000 * until_200_s, 1),
        "client_cpu_cores": round(client_cpu, 2),
    }


def main(argv: list[str] | None = None) -> int:
    configured = int(read_properties(ROOT / "config.properties")["job_queue_size"])
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--queues", type=int, nargs="+", default=list(dict.fromkeys([configured, 100, 20]))
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--rate", type=float, help="offered req/s (default: twice the first saturated rate)"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    seconds = min(args.seconds, MAX_SECONDS)
    bodies = [payload.data for payload in synthetic_payloads()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="overload-") as work:
        for queue in args.queues:
            # One offered rate for every queue size, so the runs compare on a noisy machine.
            offered = args.rate or (rows[0]["offered_rps"] if rows else None)
            rows.append(measure(queue, seconds, Path(work), bodies, offered))
            log.info("%s", json.dumps(rows[-1]))
    report = {"cpu": cpu_name(), "seconds": seconds, "runs": rows}
    print(f"CPU: {report['cpu']}")
    print(
        f"per queue size: {NORMAL_S:.0f} s at {2 * NORMAL_LOAD:.1f}x, then {seconds:.0f} s at 2x"
        " the saturated rate; first-after: the first request after the overload"
    )
    print(
        "queue  saturated  0.8x:503s  offered  200/s  goodput<=1s  503s  no-answer  p50_ms"
        "  p95_ms  first-after  first-200-after_ms"
    )
    for row in rows:
        statuses, first = row["statuses"], row["first_after"]
        print(
            f"{row['job_queue_size']:>5}  {row['saturated_rps']:>9}  "
            f"{row['normal']['statuses'].get(503, 0):>9}  {row['offered_rps']:>7}  "
            f"{row['answered_200_rps']:>5}  {row['goodput']:>11}  {statuses.get(503, 0):>4}  "
            f"{statuses.get(0, 0):>9}  {row['p50_ms']:>6}  {row['p95_ms']:>6}  "
            f"{first['status']} {first['ms']:>7}  {row['first_200_after_ms']:>18}"
        )
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
