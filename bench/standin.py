"""Weights for the benchmark when the real ones are missing: same architecture, same cost.

Speed does not depend on what a model has learnt, so a DetectorNet with the ImageNet
backbone and a random head costs what the trained one costs. :func:`standin_checkpoint`
writes one in train.py's checkpoint format; :func:`standin_model` exports it with
``ai_detector.pipeline.export.export`` (ONNX + static int8 QDQ, promoted whatever its parity) to
stand in for ``src/ai_detector/inference/default_model`` until that exists. Both are cached.

    python -m bench.standin [OUT_DIR]   # builds OUT_DIR/checkpoint.pt and OUT_DIR/model/
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ai_detector.inference.metadata import METADATA_FILE, ModelMetadata
from ai_detector.pipeline.data.records import CLASS_ORDER, Record, sha256_file, write_records

log = logging.getLogger("bench")

STANDIN_VERSION = "bench-standin-random-head"


def standin_checkpoint(path: Path, labels: tuple[str, ...] = CLASS_ORDER, seed: int = 0) -> Path:
    """A train.py-format checkpoint: ImageNet backbone, random head for ``labels``."""
    if path.is_file():
        return path
    import torch

    from ai_detector.pipeline.model import DEFAULT_TAPS, DetectorNet

    torch.manual_seed(seed)
    model = DetectorNet(num_classes=len(labels), taps=DEFAULT_TAPS, pretrained=True)
    metadata = ModelMetadata(
        labels=labels,
        version=STANDIN_VERSION,
        extra={"architecture": {"taps": list(DEFAULT_TAPS)}},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "metadata": metadata.to_dict()}, path)
    log.info("wrote stand-in checkpoint %s (ImageNet backbone, random head)", path)
    return path


def _calibration_records(folder: Path, count: int) -> Path:
    """A records CSV of photo-like images, all splits, which export() reads."""
    from bench.workload import make_mix

    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for index, item in enumerate(make_mix(n_jpeg=count, n_png=count // 4, seed=101)):
        image = folder / item.name
        image.write_bytes(item.data)
        label = CLASS_ORDER[index % len(CLASS_ORDER)]
        split = "val" if index % 4 == 0 else "train"
        records.append(Record(str(image), label, "bench", sha256_file(image), split))
    csv_path = folder / "records.csv"
    write_records(records, csv_path)
    return csv_path


def standin_model(work: Path) -> Path:
    """``work/model``: the stand-in exported as the pipeline would (int8 QDQ)."""
    model_dir = work / "model"
    if (model_dir / METADATA_FILE).is_file():
        log.info("using the cached stand-in model %s", model_dir)
        return model_dir
    from ai_detector.pipeline.export import export
    from ai_detector.pipeline.params import ExportParams

    checkpoint = standin_checkpoint(work / "checkpoint.pt")
    records = _calibration_records(work / "calibration", 24)
    # Parity with fp32 means nothing for a random head: always take plain int8 (no fp32
    # cascade), and calibrate with one method to keep the build short.
    params = ExportParams(
        calibration_images=24,
        fallback_images=0,
        calibration_methods=("MinMax",),
        min_agreement=0.0,
        max_f1_drop=1.0,
    )
    export(params, checkpoint, records, model_dir)
    log.info("built the stand-in model %s", model_dir)
    return model_dir


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    standin_model(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("bench/report/standin"))
