"""What reading provenance adds per image, next to what preprocessing already costs.

    python -m bench.provenance                 # about 20 s
    python -m bench.provenance --repeat 20     # a quick look

Images are made here (photo-like noise, so JPEG sizes are realistic): files with no
provenance at all, the case the 1 ms budget is for, then files whose metadata must
be parsed (camera EXIF, Automatic1111 settings) or validated (a C2PA manifest, signed
here with the tests' throwaway certificate chain, so run it from the repository root:
it hashes the whole file). Each case runs ``--repeat`` times or
until ``--max-seconds``, whichever comes first, and reports the median and p95 of
:func:`ai_detector.inference.provenance.read_provenance` and the median of the Predictor's
preprocessing of the same bytes. The CPU is named in the first line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from harness.images import encode, photo_like
from harness.processes import cpu_name
from PIL import Image, PngImagePlugin

from ai_detector.inference.metadata import ModelMetadata
from ai_detector.inference.predictor import DEFAULT_MODEL_DIR
from ai_detector.inference.preprocess import preprocess_bytes
from ai_detector.inference.provenance import read_provenance


def cases() -> dict[str, bytes]:
    # Sensor noise as in a camera's JPEG, so the files weigh what photos do (5 MB at 12 MP).
    small = photo_like(1024, 1024, 768, noise=14)
    large = photo_like(4000, 4000, 3000, noise=14)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Canon", "Canon EOS R5", "Firmware 1.8.1"
    settings = PngImagePlugin.PngInfo()
    settings.add_text("parameters", "a cat\nSteps: 20, Sampler: Euler a, Model: sd_xl_base_1.0")
    # Signs with a certificate chain made on the spot (harness.signing, shared with the
    # tests); imported here so the other cases run without the dev extras it needs.
    from harness.signing import c2pa_sign, make_signing_chain

    chain = make_signing_chain()
    return {
        "none: JPEG 1024x768": encode(small, "JPEG", quality=90),
        "none: JPEG 4000x3000": encode(large, "JPEG", quality=90),
        "none: PNG 1024x768": encode(small, "PNG"),
        "none: WebP 1024x768": encode(small, "WEBP", quality=90),
        "camera EXIF: JPEG 4000x3000": encode(large, "JPEG", quality=90, exif=exif.tobytes()),
        "A1111 settings: PNG 1024x768": encode(small, "PNG", pnginfo=settings),
        "C2PA: JPEG 1024x768": c2pa_sign(encode(small, "JPEG", quality=90), "image/jpeg", chain),
        "C2PA: JPEG 4000x3000": c2pa_sign(encode(large, "JPEG", quality=90), "image/jpeg", chain),
    }


def timed(call: Callable[[], object], repeat: int, max_seconds: float) -> list[float]:
    """Milliseconds per call; at least 3 calls, at most ``repeat`` or ``max_seconds``."""
    call()  # warm-up: first-call imports and caches
    times: list[float] = []
    deadline = time.perf_counter() + max_seconds
    while len(times) < repeat and (len(times) < 3 or time.perf_counter() < deadline):
        began = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - began))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200, help="calls per case (default 200)")
    parser.add_argument("--max-seconds", type=float, default=3.0, help="time cap per case")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    spec = ModelMetadata.load(DEFAULT_MODEL_DIR).image_spec
    rows = []
    print(f"CPU: {cpu_name()}; ms per image, one thread")
    print(f"{'case':32} {'bytes':>10} {'provenance p50':>15} {'p95':>7} {'preprocess p50':>15}")
    for name, data in cases().items():
        reads = timed(partial(read_provenance, data), args.repeat, args.max_seconds)
        prep = timed(partial(preprocess_bytes, data, spec), args.repeat, args.max_seconds)
        row = {
            "case": name,
            "bytes": len(data),
            "source": read_provenance(data).source,
            "provenance_ms_p50": round(statistics.median(reads), 4),
            "provenance_ms_p95": round(float(np.percentile(reads, 95)), 4),
            "preprocess_ms_p50": round(statistics.median(prep), 3),
            "calls": len(reads),
        }
        rows.append(row)
        print(
            f"{name:32} {len(data):>10} {row['provenance_ms_p50']:>15.3f} "
            f"{row['provenance_ms_p95']:>7.3f} {row['preprocess_ms_p50']:>15.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_name(), "cases": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
