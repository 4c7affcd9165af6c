"""Per image set: the physical limit, the in-process limit, the server, and their ratios.

    python -m bench.run            # runs this for every set in bench.imagesets
    python -m bench.run --sets jpeg1024,progressive1600

For each set, on the same running server:

- ``physical``: one thread's decode+preprocess ms and model ms per image (batch 1), and
  what the cores could do if they did nothing else: cores x 1000 / (decode + model);
- ``limit``: the Predictor in-process with one Python thread per core (batch 1), no server;
- ``server``: closed loop at 16 connections (saturated) and at 2 connections (latency),
  then open loop at 50% and 80% of the in-process limit (p95 and the errors).

Ratios are server/limit and server/physical, measured in the same run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import numpy as np
from harness.loadgen import closed_loop

from ai_detector.inference.predictor import Predictor
from ai_detector.serving.torchserve import Server
from bench.limit import throughput
from bench.measure import Plan, drain, open_loop_of

log = logging.getLogger("bench")

SATURATING_CONNECTIONS = 16
LATENCY_CONNECTIONS = 2
OPEN_SHARES = (0.5, 0.8)


def physical(predictor: Predictor, items: list[Any], seconds: float) -> dict[str, float]:
    """One thread: mean decode+preprocess and model ms per image, and the cores' bound.
    Means, since throughput pays for every image: a cascade re-runs only some in fp32."""
    pre, model = [], []
    deadline = time.perf_counter() + seconds
    predictor.logits(predictor.preprocess(items[0].data)[None])  # first call allocates
    for index in range(1_000):
        start = time.perf_counter()
        array = predictor.preprocess(items[index % len(items)].data)
        middle = time.perf_counter()
        predictor.logits(array[None])
        pre.append(middle - start)
        model.append(time.perf_counter() - middle)
        if time.perf_counter() > deadline:
            break
    pre_ms, model_ms = 1000 * float(np.mean(pre)), 1000 * float(np.mean(model))
    cores = os.cpu_count() or 1
    return {
        "decode_ms": round(pre_ms, 2),
        "model_ms": round(model_ms, 2),
        "img_per_s": round(cores * 1000 / (pre_ms + model_ms), 1),
    }


def _latency(outcome: Any) -> dict[str, Any]:
    summary = outcome.summary()
    keys = ("throughput", "p50", "p95", "p99", "ok", "errors")
    return {key: summary[key] for key in keys}


def measure_set(
    name: str,
    server: Server,
    predictor: Predictor,
    items: list[Any],
    plan: Plan,
    max_rate: float | None = None,
) -> dict[str, Any]:
    cores = os.cpu_count() or 1
    bound = physical(predictor, items, plan.seconds / 3)
    throughput(predictor, items, 1, 1, 0.5)  # warm-up
    limit = throughput(predictor, items, cores, 1, plan.seconds / 2)["img_per_s"]
    url, timeout, cap = server.predict_url, plan.timeout, plan.max_requests
    asyncio.run(closed_loop(url, items, 4, plan.warmup_s, timeout, cap))
    runs: dict[str, Any] = {}
    for connections in (SATURATING_CONNECTIONS, LATENCY_CONNECTIONS):
        load = closed_loop(url, items, connections, plan.seconds, timeout, cap)
        runs[f"closed_c{connections}"] = _latency(asyncio.run(load))
        drain(server, items, plan.drain_s)
    for share in OPEN_SHARES:
        rate = min(share * limit, max_rate or float("inf"))
        load = open_loop_of(plan, url, items, rate)
        runs[f"open_{round(100 * share)}pct"] = _latency(asyncio.run(load))
        drain(server, items, plan.drain_s)
    top = runs[f"closed_c{SATURATING_CONNECTIONS}"]["throughput"]
    result = {
        "set": name,
        "images": len(items),
        "mean_kb": round(float(np.mean([item.size_kb for item in items])), 1),
        "physical": bound,
        "limit_img_per_s": limit,
        "server_req_per_s": top,
        "server_over_limit": round(top / limit, 3) if limit else None,
        "server_over_physical": round(top / bound["img_per_s"], 3),
        "runs": runs,
    }
    log.info(
        "  %-16s physical %6.1f  limit %6.1f  server %6.1f img/s  (%.2f of limit)  "
        "p95 c=2 %s ms, at 50%% %s ms, at 80%% %s ms",
        name,
        bound["img_per_s"],
        limit,
        top,
        result["server_over_limit"] or 0,
        runs[f"closed_c{LATENCY_CONNECTIONS}"]["p95"],
        runs["open_50pct"]["p95"],
        runs["open_80pct"]["p95"],
    )
    return result
