"""``ai-detector explain``: the verdict on one image and where in it the model saw it.

    ai-detector explain photo.jpg --out heat.png     # writes the overlay, prints the verdict
    ai-detector explain photo.jpg --out heat.png --json   # the REST answer, minus the PNGs
    ai-detector predict photos/ -o predictions.csv --explain overlays/   # one overlay per file

The overlay is the image with the class-activation heatmap over it (ai_detector.inference.explain):
warm where the evidence for the verdict, against its rival label, is strongest; the
region outside the centre square the model saw stays uncoloured. Exit codes as for
``predict``: 0 explained, 1 the image could not be classified, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ai_detector.apps.batch import read_image
from ai_detector.inference.errors import InputError, NoExplanationError
from ai_detector.inference.explain import explain_bytes
from ai_detector.inference.predictor import Predictor, cam_names

log = logging.getLogger("ai_detector.apps.cli")

EXIT_OK, EXIT_FAILED = 0, 1


def add_explain_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "explain",
        help="classify one image and draw where the evidence lies",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", type=Path, metavar="IMAGE", help="the image to explain")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PNG",
        help="where to write the overlay (default: IMAGE's name with .heat.png, here)",
    )
    parser.add_argument("--max-side", type=int, default=1024, help="overlay size (default 1024)")
    parser.add_argument("--json", action="store_true", help="print the full answer as JSON")
    parser.add_argument("-m", "--model_dir", "--model-dir", type=Path, metavar="DIR")
    parser.add_argument("-t", "--threads", type=int, default=None)
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def explaining_predictor(model_dir: Path | None, threads: int | None) -> Predictor:
    """A Predictor whose model has explanation outputs; ValueError with the reason if not."""
    predictor = Predictor(model_dir, threads)
    if not cam_names(predictor.session):
        raise ValueError(
            f"the model in {predictor.model_dir} has no explanation outputs (cam_*): "
            "add them with python -m ai_detector.pipeline.cam_graph MODEL.onnx"
        )
    return predictor


def explain(args: argparse.Namespace) -> int:
    """Raises ValueError/FileNotFoundError for usage errors (the caller reports them)."""
    if not args.path.is_file():
        raise FileNotFoundError(f"{args.path} does not exist or is not a file")
    out = args.out or Path(f"{args.path.stem}.heat.png")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"the folder {out.parent} does not exist")
    predictor = explaining_predictor(args.model_dir, args.threads)
    try:
        (found,) = explain_bytes(predictor, [read_image(args.path)])
    except NoExplanationError as error:
        raise ValueError(error.message) from error
    except OSError as error:
        found = InputError(f"cannot read {args.path}: {error.strerror or error}")
    if isinstance(found, InputError):
        sys.stderr.write(f"{args.path}: {found.code}: {found.message}\n")
        return EXIT_FAILED
    found.overlay(args.max_side).save(out, format="PNG")
    answer = found.to_dict()
    details = answer["explanation"]
    if args.json:
        for key in ("overlay_png", "heatmap_png"):
            details.pop(key)
        sys.stdout.write(json.dumps({"path": str(args.path), **answer, "overlay": str(out)}) + "\n")
        return EXIT_OK
    peak = details["peak"]
    sys.stdout.write(
        f"{args.path}: {found.prediction.label} {found.prediction.confidence:.1%}"
        f" (evidence for {details['target']} against {details['against']}, strongest at"
        f" {peak['x']:.0%} across, {peak['y']:.0%} down); overlay: {out}\n"
    )
    return EXIT_OK
