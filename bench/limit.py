"""The in-process limit: how many images/s the Predictor itself manages, no server at all.

    python -m bench.limit MODEL_DIR

Each "thread" is a Python thread with its own one-thread onnxruntime run (as each
TorchServe worker runs one onnxruntime thread): it takes the next ``batch`` images of the
mix and calls ``Predictor.predict_bytes`` (decode, preprocess, model, verdict), which is
what the handler calls. Decoding and onnxruntime release the GIL, so two threads use both
cores. Also a breakdown of one thread's time: preprocessing per image kind, model per batch,
and for a cascade model the share of the images that also run in fp32.
"""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from ai_detector.inference.predictor import Predictor
from ai_detector.inference.preprocess import preprocess_bytes

log = logging.getLogger("bench")


def throughput(
    predictor: Predictor,
    items: list[Any],
    threads: int,
    batch: int,
    seconds: float,
    max_images: int = 100_000,
) -> dict[str, Any]:
    """Images/s of ``threads`` threads calling ``predict_bytes`` on ``batch`` images."""
    counter = itertools.count()
    done = [0] * threads
    deadline = time.perf_counter() + seconds

    def loop(slot: int) -> None:
        while time.perf_counter() < deadline and sum(done) < max_images:
            start = next(counter) * batch
            chunk = [items[(start + i) % len(items)].data for i in range(batch)]
            predictor.predict_bytes(chunk)
            done[slot] += batch

    began, cpu = time.perf_counter(), time.process_time()
    workers = [threading.Thread(target=loop, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    return {
        "threads": threads,
        "batch": batch,
        "images": sum(done),
        "img_per_s": round(sum(done) / elapsed, 1),
        "cpu_ms_per_img": round(1000 * (time.process_time() - cpu) / max(1, sum(done)), 2),
    }


def breakdown(predictor: Predictor, items: list[Any], seconds: float) -> dict[str, float]:
    """One thread: preprocessing ms per image by kind, model ms per image at batch 1 and 8."""
    result: dict[str, float] = {}
    for kind in sorted({item.kind for item in items}):
        data = [item.data for item in items if item.kind == kind]
        timings, deadline = [], time.perf_counter() + seconds / 4
        for index in range(10_000):
            start = time.perf_counter()
            preprocess_bytes(data[index % len(data)], predictor.spec)
            timings.append(time.perf_counter() - start)
            if time.perf_counter() > deadline:
                break
        result[f"preprocess_{kind}_ms"] = round(1000 * float(np.median(timings)), 2)
    arrays = np.stack([preprocess_bytes(item.data, predictor.spec) for item in items[:8]])
    result["fallback_share"] = fallback_share(predictor, items)
    for batch in (1, 8):
        # The same 8 images either way: one by one, or as one batch.
        chunks = [arrays[i : i + batch] for i in range(0, len(arrays), batch)]
        predictor.logits(chunks[0])  # first call allocates
        timings, deadline = [], time.perf_counter() + seconds / 4
        for index in range(1_000):
            chunk = chunks[index % len(chunks)]
            start = time.perf_counter()
            predictor.logits(chunk)
            timings.append((time.perf_counter() - start) / len(chunk))
            if time.perf_counter() > deadline:
                break
        # The mean, not the median: a cascade re-runs only some images in fp32, and a
        # median of batch-1 times would hide them.
        result[f"model_batch{batch}_ms_per_img"] = round(1000 * float(np.mean(timings)), 2)
    return result


def fallback_share(predictor: Predictor, items: list[Any]) -> float:
    """Share of the images that a cascade model runs again in fp32 (0 for other models):
    it sets the cascade's cost, and depends on the images."""
    arrays = np.stack([preprocess_bytes(item.data, predictor.spec) for item in items])
    return round(float(predictor.first_pass(arrays)[1].mean()), 3)


def measure_limit(
    model_dir: Path,
    items: list[Any],
    seconds: float,
    configs: tuple[tuple[int, int], ...] = ((1, 1), (1, 8), (2, 1), (2, 8)),
    with_breakdown: bool = True,
) -> dict[str, Any]:
    """Throughput for each (threads, batch), the best of them, and a breakdown."""
    predictor = Predictor(model_dir, threads=1)
    throughput(predictor, items, 1, 8, min(1.0, seconds))  # warm-up: first runs allocate
    runs = [throughput(predictor, items, threads, batch, seconds) for threads, batch in configs]
    for run in runs:
        log.info(
            "  in-process  %d thread(s) batch %d: %7.1f img/s  (%.1f ms CPU/img)",
            run["threads"],
            run["batch"],
            run["img_per_s"],
            run["cpu_ms_per_img"],
        )
    best = max(runs, key=lambda run: run["img_per_s"])
    if not with_breakdown:
        return {"runs": runs, "best": best}
    parts = breakdown(predictor, items, seconds)
    log.info("  one thread: %s", ", ".join(f"{k} {v}" for k, v in parts.items()))
    return {"runs": runs, "best": best, "breakdown": parts}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from bench.workload import interleave, make_mix

    measure_limit(Path(sys.argv[1]), interleave(make_mix()), 5.0)
