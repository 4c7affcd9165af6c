"""DVC stage ``export``: ONNX (fp32) and static int8 (QDQ), with a parity gate.

    python -m ai_detector.pipeline.export [--params params.yaml] [--checkpoint models/checkpoint.pt]
                                 [--records data/prepared/records.csv] [--out models/model]

The trained checkpoint is exported with a dynamic batch axis and checked with
``onnx.checker``. int8 candidates (per calibration method and count of fp32 leading
convolutions, each alone and as a cascade with an fp32 fallback) are calibrated on
training images through the shared preprocessing and checked on the validation split
by ai_detector.pipeline.promote: of those that keep fp32's decisions (``min_agreement``,
``max_f1_drop``) and fp32 itself, the fastest on this machine ships, timed with a
warm-up and a spread; within the spread ``tie_break`` decides (ai_detector.pipeline.speed).
Every shipped file gets the class-activation outputs of pipeline.cam_graph (explanations).
The model file(s)
and their metadata (precision, size, latency, parity) land in ``--out``; every figure
also goes to ``--metrics``."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from ai_detector.inference.metadata import Candidate, ImageSpec, ModelMetadata
from ai_detector.inference.precision import FP32
from ai_detector.inference.preprocess import preprocess_bytes
from ai_detector.pipeline.cam_graph import add_cam_outputs_file
from ai_detector.pipeline.data.records import Record, read_records
from ai_detector.pipeline.model import load_checkpoint
from ai_detector.pipeline.params import ExportParams, Params
from ai_detector.pipeline.promote import Images, logits, search
from ai_detector.pipeline.speed import measure
from ai_detector.pipeline.stage import CHECKPOINT, EXPORT_REPORT, MODEL, RECORDS, run_stage
from ai_detector.pipeline.tracking import log_artifacts, register_onnx

log = logging.getLogger(__name__)


def preprocess_records(records: list[Record], spec: ImageSpec) -> np.ndarray:
    shape = (0, 3, spec.input_size, spec.input_size)
    arrays = [preprocess_bytes(r.read_bytes(), spec) for r in records]
    return np.stack(arrays) if arrays else np.zeros(shape, np.float32)


def spread(records: list[Record], count: int) -> list[Record]:
    """``count`` records evenly spread over ``records`` (all of them if fewer)."""
    if count >= len(records):
        return list(records)
    return [records[i] for i in np.linspace(0, len(records) - 1, count).round().astype(int)]


def export_onnx(model: torch.nn.Module, spec: ImageSpec, path: Path, opset: int) -> None:
    dummy = torch.randn(2, 3, spec.input_size, spec.input_size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=["input"],
        output_names=["logits"],
        opset_version=opset,
        dynamo=True,
        external_data=False,
        dynamic_shapes=({0: batch},),
    )
    onnx.checker.check_model(str(path))


def torch_logits(model: torch.nn.Module, arrays: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """The checkpoint's own logits, a batch at a time: the whole validation split in one
    forward pass held every activation at once (24 GB at 288 px, killed on 24 GiB)."""
    with torch.inference_mode():
        parts = [
            model(torch.from_numpy(arrays[i : i + batch_size])).numpy()
            for i in range(0, len(arrays), batch_size)
        ]
    return np.concatenate(parts)


def disjoint_spreads(records: list[Record], counts: list[int]) -> list[list[Record]]:
    """One evenly spread pick per count, each from the records the earlier ones left."""
    picks, rest = [], list(records)
    for count in counts:
        pick = spread(rest, count)
        taken = set(pick)
        rest = [r for r in rest if r not in taken]
        picks.append(pick)
    return picks


def export(
    params: ExportParams, checkpoint: Path, records_path: Path, out_dir: Path
) -> dict[str, Any]:
    model, metadata = load_checkpoint(checkpoint)
    # A retrain under the same params version can give other weights (another CPU, another
    # library version): the weights' own digest keeps two such models apart in every answer.
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:8]
    metadata = metadata.replace(version=f"{metadata.version}+{digest}")
    spec = metadata.image_spec
    index = {label: i for i, label in enumerate(metadata.labels)}
    work = Path(tempfile.mkdtemp(prefix="export-"))
    fp32_dir = work / "fp32"
    fp32_dir.mkdir()
    export_onnx(model, spec, fp32_dir / metadata.model_file, params.opset)
    metadata = metadata.replace(precision="fp32")
    metadata.save(fp32_dir)
    val = read_records(records_path, "val")
    val_x = preprocess_records(val, spec)
    reference = torch_logits(model, val_x)
    report: dict[str, Any] = {
        "fp32_vs_torch_max_diff": float(np.abs(logits(fp32_dir, val_x) - reference).max())
    }
    chosen = fp32_dir
    if params.quantize:
        # Disjoint training images: ranges, bias correction and the cascade's margin
        # each from their own, so none of them is fitted on the images it is checked on.
        calibration, correction, margin = (
            preprocess_records(pick, spec)
            for pick in disjoint_spreads(
                read_records(records_path, "train"),
                [params.calibration_images, params.bias_correction_images, params.fallback_images],
            )
        )
        images = Images(
            val_x, np.array([index[r.label] for r in val]), calibration, correction, margin
        )
        found, chosen = search(params, fp32_dir, images, work)
        report.update(found)
    else:
        model_file = metadata.model_file
        speeds = measure({model_file: fp32_dir / model_file}, [Candidate(FP32, model_file)], val_x)
        report["latency_fp32"] = speeds[FP32].report()
        report["promoted"] = FP32
    shipped = ModelMetadata.load(chosen)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.onnx"):
        stale.unlink()
    for name in shipped.model_files:
        shutil.copyfile(chosen / name, out_dir / name)
        # Heatmap outputs for explanations, added last so no candidate's check sees them.
        add_cam_outputs_file(out_dir / name)
    size_mb = sum((out_dir / name).stat().st_size for name in shipped.model_files) / 1e6
    report["model_size_mb"] = size_mb
    shipped.replace(extra={**shipped.extra, "export": report}).save(out_dir)
    shutil.rmtree(work, ignore_errors=True)
    log.info("exported %s model (%.1f MB) to %s", shipped.precision, size_mb, out_dir)
    return report


def main(argv: list[str] | None = None) -> int:
    paths = {"checkpoint": CHECKPOINT, "records": RECORDS, "out": MODEL, "metrics": EXPORT_REPORT}
    return run_stage("export", __doc__, _run, argv, paths)


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    report = export(params.export, args.checkpoint, args.records, args.out)
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(report, indent=2) + "\n")
    log_artifacts(mlflow, args.metrics, args.out)
    register_onnx(mlflow, args.out / ModelMetadata.load(args.out).model_file, report)


if __name__ == "__main__":
    raise SystemExit(main())
