"""What an explanation costs next to a prediction, and whether its peak finds a pasted patch.

    python -m bench.explain                          # timings, about 1 min
    python -m bench.explain --patches ../shared/data/photos-vs-diffusion/real \\
        ../shared/data/faces-t2i-sdxl-flux/fake --overlay docs/explain_patch.png
    # (writes the first hit's overlay, and the pasted image as docs/explain_patch_input.jpg)

Timings (one onnxruntime thread, batch 1, medians of interleaved rounds so a noisy
neighbour slows every variant alike), on the shipped model as the Predictor runs it:
- ``predict, model without maps`` vs ``predict, model with maps``: the same model files,
  with and without the ``cam_*`` outputs (ai_detector.pipeline.cam_graph), through the Predictor:
  what the maps cost /predictions (onnxruntime runs the whole graph on every call).
- ``explain: model + maps``: logits and maps (``Predictor.run(batch, with_maps=True)``).
- ``predict_bytes`` vs ``explain_bytes + answer``: from encoded bytes to the answer,
  the latter with the overlay and heatmap PNGs and the grid (what /explanations does).

``--patches REAL FAKE`` pastes a square from a fake image (a third of the side) into a real
photo at a random place, for ``--count`` pairs, and reports for the images called fake how
often the heat's peak lies inside the patch and the share of the heat inside it (the
patch covers about 11% of the region the model sees, the chance level of both).
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from harness.images import encode, photo_like
from harness.processes import cpu_name
from PIL import Image

from ai_detector.inference.explain import explain_bytes
from ai_detector.inference.predictor import CAM_PREFIX, DEFAULT_MODEL_DIR, Predictor


def without_maps(model_dir: Path, target: Path) -> Path:
    """A copy of ``model_dir`` whose model files lack the cam_* outputs and nodes."""
    shutil.copytree(model_dir, target)
    for path in target.glob("*.onnx"):
        model = onnx.load(str(path))
        graph = model.graph
        keep = [n for n in graph.node if not any(o.startswith(CAM_PREFIX) for o in n.output)]
        del graph.node[:]
        graph.node.extend(keep)
        outputs = [o for o in graph.output if not o.name.startswith(CAM_PREFIX)]
        del graph.output[:]
        graph.output.extend(outputs)
        inits = [i for i in graph.initializer if not i.name.startswith(CAM_PREFIX)]
        del graph.initializer[:]
        graph.initializer.extend(inits)
        onnx.save(model, str(path))
    return target


def medians(cases: dict[str, Callable[[int], object]], rounds: int) -> dict[str, float]:
    """Median ms of each case; in round ``i`` every case gets the same ``i``."""
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for round_ in range(rounds + 3):
        for name, case in cases.items():
            start = time.perf_counter()
            case(round_)
            if round_ >= 3:  # warm-up
                timings[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in timings.items()}


def timings(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        # Both Predictors run the shipped model's exported candidate, as a cascade ships.
        plain = Predictor(without_maps(DEFAULT_MODEL_DIR, Path(work) / "plain"), 1, "exported")
        maps = Predictor(DEFAULT_MODEL_DIR, 1, "exported")
        images = [encode(photo_like(seed, 1024, 768, noise=10), quality=90) for seed in range(8)]
        arrays = [maps.preprocess(data)[None] for data in images]
        n = len(images)
        cases: dict[str, Callable[[int], object]] = {
            "predict, model without maps": lambda i: plain.predict_arrays(arrays[i % n]),
            "predict, model with maps": lambda i: maps.predict_arrays(arrays[i % n]),
            "explain: model + maps": lambda i: maps.run(arrays[i % n], with_maps=True),
            "predict_bytes": lambda i: maps.predict_bytes([images[i % n]]),
            "explain_bytes": lambda i: explain_bytes(maps, [images[i % n]]),
            "explain_bytes + answer": lambda i: [
                e.to_dict() for e in explain_bytes(maps, [images[i % n]])
            ],
        }
        found = medians(cases, rounds)
    print(f"CPU: {cpu_name()}; model {maps.candidate.name}; ms per image, batch 1, 1 thread")
    for name, value in found.items():
        print(f"{name:<32}{value:8.2f}")
    model_share = found["explain: model + maps"] / found["predict, model with maps"]
    answer_share = found["explain_bytes + answer"] / found["predict_bytes"]
    print(f"explanation / prediction, model only: {model_share:.2f}x")
    print(f"explanation / prediction, bytes to answer: {answer_share:.2f}x")


def patches(real_dir: Path, fake_dir: Path, count: int, overlay: Path | None) -> None:
    predictor = Predictor(DEFAULT_MODEL_DIR, 1)
    rng = random.Random(0)
    reals, fakes = sorted(real_dir.glob("*.jpg")), sorted(fake_dir.glob("*.jpg"))
    side, patch = 512, 512 // 3
    called, inside, shares = 0, 0, []
    for _ in range(count):
        image = Image.open(rng.choice(reals)).convert("RGB").resize((side, side))
        pasted = Image.open(rng.choice(fakes)).convert("RGB").resize((patch, patch))
        # Inside the centre square the model sees (7/8 of the side).
        x0, y0 = (rng.randint(side // 16, side - side // 16 - patch) for _ in range(2))
        image.paste(pasted, (x0, y0))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        (found,) = explain_bytes(predictor, [buffer.getvalue()])
        if isinstance(found, Exception) or found.prediction.label == "Real":
            continue
        called += 1
        peak = found.to_dict()["explanation"]["peak"]
        hit = x0 <= peak["x"] * side < x0 + patch and y0 <= peak["y"] * side < y0 + patch
        inside += hit
        heat = np.asarray(Image.fromarray(found.heat).resize((448, 448)))
        box = slice(y0 - 32, y0 - 32 + patch), slice(x0 - 32, x0 - 32 + patch)
        shares.append(float(heat[box].sum() / max(heat.sum(), 1e-9)))
        if overlay is not None and hit and called == inside == 1:
            found.overlay(side).save(overlay)
            image.save(overlay.with_name(f"{overlay.stem}_input.jpg"), quality=90)
            print(
                f"overlay of a pasted patch at x {x0}-{x0 + patch}, y {y0}-{y0 + patch}"
                f" ({found.prediction.label} {found.prediction.confidence:.2f}), peak at"
                f" ({peak['x'] * side:.0f}, {peak['y'] * side:.0f}): {overlay}"
            )
    chance = patch * patch / (448 * 448)
    print(
        f"pasted patches: {count}; called fake: {called}; peak inside the patch: {inside}"
        f"; mean heat share inside: {statistics.mean(shares) if shares else 0:.2f}"
        f" (chance {chance:.2f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--patches", nargs=2, type=Path, metavar=("REAL", "FAKE"))
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--overlay", type=Path)
    args = parser.parse_args(argv)
    timings(args.rounds)
    if args.patches:
        real, fake = args.patches
        patches(real, fake, args.count, args.overlay)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
