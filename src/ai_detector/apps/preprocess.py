"""Show what the model is given for an image: the preprocessed tensor's shape and statistics.

    python -m ai_detector.apps.preprocess photo.jpg [more.png ...]
    AI_DETECTOR_MODEL_DIR=models/model python -m ai_detector.apps.preprocess photo.jpg

The image spec (input size, resize, mean, std, interpolation) comes from the model's
metadata.json, found as the Predictor finds it, so the numbers are the ones serving
computes. A look at a suspicious input (a colour cast, an odd size, a tiny crop) starts here.
The command lives in apps/ rather than in :mod:`ai_detector.inference.preprocess` because
it needs the Predictor's ``resolve_model_dir`` and the Predictor imports preprocess: kept
there, the two modules imported each other.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ai_detector.inference.metadata import ModelMetadata
from ai_detector.inference.predictor import resolve_model_dir
from ai_detector.inference.preprocess import preprocess_bytes

log = logging.getLogger(__name__)


def describe(path: Path, data: bytes, metadata: ModelMetadata) -> str:
    """One line: the file, the tensor's shape, its mean and its standard deviation."""
    array = preprocess_bytes(data, metadata.image_spec)
    return f"{path}: shape={array.shape} mean={array.mean():.3f} std={array.std():.3f}"


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    paths = [Path(arg) for arg in (sys.argv[1:] if argv is None else argv)]
    if not paths or any(arg in ("-h", "--help") for arg in map(str, paths)):
        print(__doc__)
        return 0 if paths else 2
    metadata = ModelMetadata.load(resolve_model_dir())
    for path in paths:
        log.info("%s", describe(path, path.read_bytes(), metadata))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
