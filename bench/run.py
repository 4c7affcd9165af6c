"""`make bench`: the in-process limit, our TorchServe and an eager fp32 baseline, in one run.

    python -m bench.run --wait-idle 300           # default model, full run (about 13 minutes)
    python -m bench.run --model models/model --checkpoint models/checkpoint.pt
    python -m bench.run --quick                   # seconds per phase, for the smoke test
    python -m bench.run --ours batchSize=4 --ours AI_DETECTOR_THREADS=1 --ours job_queue_size=400

(a) the Predictor in-process, (b) our server (serving/handler.py + ONNX), (b2) per image set
(bench.imagesets: 1024 px JPEGs, 1600 px progressive JPEGs, PNGs, 12 MP phone JPEGs) the
physical limit, the in-process limit and the server (bench.sets), and (c) a baseline
server (TorchServe image_classifier-style handler, eager fp32 DetectorNet; run twice: with
torch's default threads and with one torch thread per worker) under the same
closed- and open-loop load from a light asyncio client on 127.0.0.1, with CPU and RSS of
every process; then the ratios and the targets. Prints tables and writes
``<out>/summary.json``. ``--ours KEY=VALUE`` tries a setting on our server only: a
model-config.yaml key (batchSize, maxBatchDelay, minWorkers...), an UPPER_CASE worker
environment variable, or else a config.properties key. When the default model is missing
a stand-in (ImageNet backbone, random head, int8) is built and said so.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from harness.servers import local_torchserve

from ai_detector.inference.metadata import METADATA_FILE, ModelMetadata
from ai_detector.inference.predictor import Predictor, resolve_model_dir
from bench.cpu import cpu_info, describe_cpu
from bench.imagesets import IMAGE_SETS, make_set
from bench.limit import measure_limit
from bench.measure import Plan, measure_server
from bench.report import ratios_and_targets, render
from bench.servers import Settings, baseline_archive, ours_archive
from bench.sets import measure_set
from bench.standin import standin_model
from bench.workload import describe, interleave, make_mix

log = logging.getLogger("bench")

HERE = Path(__file__).resolve().parent
# The baseline as TorchServe runs it by default (torch takes every core in each of the two
# workers), and with one torch thread per worker, TorchServe's own CPU advice: the second
# keeps the ratio honest where oversubscribed torch threads collapse.
BASELINES: dict[str, dict[str, str]] = {
    "baseline": {},
    "baseline_1thread": {"OMP_NUM_THREADS": "1"},
}
IDLE_BUSY_PERCENT = 15.0
MODEL_CONFIG_KEYS = {"minWorkers", "maxWorkers", "batchSize", "maxBatchDelay", "responseTimeout"}


def parse_settings(pairs: list[str]) -> Settings:
    settings = Settings()
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key in MODEL_CONFIG_KEYS:
            settings.model_config[key] = int(value)
        elif key.isupper():
            settings.env[key] = value
        else:
            settings.properties[key] = value
    return settings


def baseline_weights(
    checkpoint: Path | None, metadata: ModelMetadata, work: Path
) -> tuple[Path, str, list[int], list[str]]:
    """The baseline's state dict, what it is, its taps and its labels."""
    import torch

    from ai_detector.pipeline.model import DEFAULT_TAPS, DetectorNet, load_checkpoint

    if checkpoint is not None:
        model, trained = load_checkpoint(checkpoint)
        taps, labels = list(trained.extra["architecture"]["taps"]), list(trained.labels)
        what = f"checkpoint {checkpoint}"
    else:
        torch.manual_seed(0)
        taps = list(metadata.extra.get("architecture", {}).get("taps", DEFAULT_TAPS))
        labels = list(metadata.labels)
        model = DetectorNet(len(labels), taps=tuple(taps), pretrained=True)
        what = "ImageNet backbone + random head (same architecture and cost as the trained model)"
    path = work / "weights.pt"
    torch.save(model.state_dict(), path)
    return path, what, taps, labels


def machine(wait_idle_s: float = 0.0) -> dict[str, Any]:
    """CPU count, load and how busy the machine is, after waiting (bounded) for it to idle."""
    deadline = time.monotonic() + wait_idle_s
    busy = 100 - psutil.cpu_times_percent(interval=2.0).idle
    while busy > IDLE_BUSY_PERCENT and time.monotonic() < deadline:
        log.info("waiting for the machine to go idle: %.0f%% busy", busy)
        busy = 100 - psutil.cpu_times_percent(interval=10.0).idle
    if busy > IDLE_BUSY_PERCENT:
        log.warning("the machine is %.0f%% busy before the run: figures will be low", busy)
    return {
        "cpu": cpu_info(),
        "cpus": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
        "busy_before_percent": round(busy, 1),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=None, help="ONNX model directory")
    parser.add_argument("--checkpoint", type=Path, default=None, help="train.py checkpoint")
    parser.add_argument("--out", type=Path, default=HERE / "report")
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase")
    parser.add_argument("--seconds", type=float, default=15.0, help="per load run")
    parser.add_argument("--limit-seconds", type=float, default=6.0, help="per in-process run")
    parser.add_argument("--concurrency", default="2,8,16,32", help="closed-loop connections")
    parser.add_argument("--rates", default="50,100,150", help="open-loop req/s")
    parser.add_argument(
        "--sets", default=",".join(IMAGE_SETS), help="image sets to measure one by one ('' = none)"
    )
    parser.add_argument("--ours", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--no-variant", action="store_true", help="skip the one-torch-thread baseline"
    )
    parser.add_argument("--wait-idle", type=float, default=0.0, help="wait up to N s for idle")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    return parser.parse_args(argv)


def measure_ours(
    store: Path,
    work: Path,
    settings: Settings,
    model_dir: Path,
    items: list[Any],
    plan: Plan,
    set_names: str,
    quick: bool,
    machine_info: dict[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(b) our server on the mix, then (b2) each image set on the same server."""
    with local_torchserve(store, work / "ours", settings.properties, settings.env) as server:
        ours = measure_server(server, items, plan)
        predictor = Predictor(model_dir, threads=1)
        ours["precision_here"] = predictor.candidate.name
        # The smoke test's budget: two small sets, two images each, gentle rates.
        sets = ["jpeg1024", "png"] if quick else [n for n in set_names.split(",") if n]
        if sets:
            log.info("(b2) per image set, %s", describe_cpu(machine_info["cpu"]))
        results = [
            measure_set(
                name,
                server,
                predictor,
                make_set(name, 2 if quick else None),
                plan,
                max_rate=10.0 if quick else None,
            )
            for name in sets
        ]
    return ours, results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    for noisy in ("ai_detector", "ai_detector.serving.torchserve", "ai_detector.serving.archive"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    quick = args.quick
    plan = Plan(
        seconds=args.seconds,
        concurrency=tuple(int(c) for c in args.concurrency.split(",")),
        rates=tuple(float(r) for r in args.rates.split(",")),
    )
    if quick:  # the smoke test's budget: every phase once, briefly, at a rate any server holds
        plan = Plan(
            seconds=2.0,
            warmup_s=1.0,
            concurrency=(4,),
            rates=(2.0,),
            timeout=5.0,
            drain_s=5.0,
            skip_saturated=False,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-"))
    model_dir = args.model or resolve_model_dir(None)
    stand_in = args.model is None and not (model_dir / METADATA_FILE).is_file()
    if stand_in:
        log.warning("no model in %s: building the stand-in (random head)", model_dir)
        model_dir = standin_model(args.out / "standin")
    checkpoint = args.checkpoint
    if checkpoint is None and stand_in:
        checkpoint = args.out / "standin" / "checkpoint.pt"
    metadata = ModelMetadata.load(model_dir)
    summary: dict[str, Any] = {
        "machine": machine(args.wait_idle),
        "model": {
            "dir": str(model_dir),
            "version": metadata.version,
            "precision": metadata.precision,
            "stand_in": stand_in,
        },
        "plan": plan.__dict__,
        "ours_settings": parse_settings(args.ours).__dict__,
    }
    log.info("machine before the run: %s", summary["machine"])
    log.info("CPU: %s", describe_cpu(summary["machine"]["cpu"]))
    items = interleave(make_mix(4, 2) if quick else make_mix())
    summary["images"] = describe(items)
    try:
        log.info("(a) in-process limit")
        limit_s = 0.5 if quick else args.limit_seconds
        summary["limit"] = measure_limit(model_dir, items, limit_s)
        log.info("(b) our server")
        settings = parse_settings(args.ours)
        store = ours_archive(model_dir, work / "ours", settings)
        summary["ours"], summary["sets"] = measure_ours(
            store, work, settings, model_dir, items, plan, args.sets, quick, summary["machine"]
        )
        weights, what, taps, labels = baseline_weights(checkpoint, metadata, work)
        store = baseline_archive(weights, labels, taps, work / "baseline")
        variants = {"baseline": {}} if quick or args.no_variant else BASELINES
        for name, env in variants.items():
            log.info("(c) %s server %s", name, env or "(torch's default threads)")
            with local_torchserve(store, work / name, env=env) as server:
                summary[name] = measure_server(server, items, plan) | {"weights": what, "env": env}
        # The machine's speed drifts by 10-25 % over minutes (a shared VM): measure the
        # limit again after the servers, and take the better figure for the ratios.
        log.info("(a) in-process limit again, 2 threads")
        again = measure_limit(
            model_dir, items, limit_s, configs=((2, 1), (2, 8)), with_breakdown=False
        )
        summary["limit"]["after"] = again["runs"]
        if again["best"]["img_per_s"] > summary["limit"]["best"]["img_per_s"]:
            summary["limit"]["best"] = again["best"] | {"measured": "after the servers"}
    except BaseException:
        log.error("the run failed; its server logs are kept in %s", work)
        raise
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    ratios_and_targets(summary)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("\n%s\n\nwritten %s", render(summary), args.out / "summary.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
