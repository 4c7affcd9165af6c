"""DVC stage ``export``: ONNX (fp32) and static int8 (QDQ), with a parity gate.

    python -m ai_detector.export [--params params.yaml] [--checkpoint models/checkpoint.pt]
                                 [--records data/prepared/records.csv] [--out models/model]

The trained checkpoint is exported with a dynamic batch axis, checked with
``onnx.checker`` and pre-processed (shape inference + graph optimisation) for
quantisation. Static int8 QDQ models (per-channel weights) are calibrated on
training images through the shared preprocessing, one per calibration method;
the best is promoted only if it agrees with fp32 on >= ``min_agreement`` of the
validation images and loses <= ``max_f1_drop`` macro F1. The chosen model and its
metadata (precision, size, latency, parity) land in ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization.shape_inference import quant_pre_process
from sklearn.metrics import f1_score

from ai_detector.data.records import Record, read_records
from ai_detector.metadata import ModelMetadata
from ai_detector.params import ExportParams, load_params
from ai_detector.predictor import decide, softmax
from ai_detector.preprocess import ImageSpec, preprocess_bytes
from ai_detector.quantize import quantize_int8
from ai_detector.tracking import log_artifacts, register_onnx, stage_run
from ai_detector.train import load_checkpoint

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


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(path: Path, arrays: np.ndarray, batch_size: int = 32) -> np.ndarray:
    sess = session(path)
    name = sess.get_inputs()[0].name
    return np.concatenate(
        [
            sess.run(None, {name: arrays[i : i + batch_size]})[0]
            for i in range(0, len(arrays), batch_size)
        ]
    )


def latency(path: Path, spec: ImageSpec, threads: int = 1) -> dict[str, float]:
    """Model-only speed: median ms at batch 1 and images/s at batch 8, ``threads`` threads."""
    sess = session(path, threads)
    name = sess.get_inputs()[0].name
    one = (
        np.random.default_rng(0)
        .standard_normal((1, 3, spec.input_size, spec.input_size))
        .astype(np.float32)
    )
    eight = np.repeat(one, 8, axis=0)
    timings = []
    for _ in range(30):
        start = time.perf_counter()
        sess.run(None, {name: one})
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(10):
        sess.run(None, {name: eight})
    return {
        "batch1_ms": 1000 * float(np.median(timings[5:])),
        "batch8_img_per_s": 80 / (time.perf_counter() - start),
        "threads": threads,
    }


def parity(
    reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray, metadata: ModelMetadata
) -> dict[str, float]:
    ref_pred = decide(softmax(reference, metadata.temperature), metadata)
    cand_pred = decide(softmax(candidate, metadata.temperature), metadata)
    return {
        "agreement": float((ref_pred == cand_pred).mean()),
        "macro_f1_fp32": float(f1_score(labels, ref_pred, average="macro")),
        "macro_f1": float(f1_score(labels, cand_pred, average="macro")),
        "max_logit_diff": float(np.abs(reference - candidate).max()),
        "mean_logit_diff": float(np.abs(reference - candidate).mean()),
    }


def passes(result: dict[str, Any], params: ExportParams) -> bool:
    """The parity gate: int8 may replace fp32 only if it keeps fp32's decisions."""
    return (
        result["agreement"] >= params.min_agreement
        and result["macro_f1_fp32"] - result["macro_f1"] <= params.max_f1_drop
    )


def export(
    params: ExportParams, checkpoint: Path, records_path: Path, out_dir: Path
) -> dict[str, Any]:
    model, metadata = load_checkpoint(checkpoint)
    spec = metadata.image_spec
    index = {label: i for i, label in enumerate(metadata.labels)}
    work = Path(tempfile.mkdtemp(prefix="export-"))
    fp32 = work / "model_fp32.onnx"
    export_onnx(model, spec, fp32, params.opset)
    val = read_records(records_path, "val")
    val_x = preprocess_records(val, spec)
    val_y = np.array([index[r.label] for r in val])
    with torch.inference_mode():
        torch_logits = model(torch.from_numpy(val_x)).numpy()
    fp32_logits = run(fp32, val_x)
    report: dict[str, Any] = {
        "fp32_vs_torch_max_diff": float(np.abs(fp32_logits - torch_logits).max())
    }
    chosen, precision = fp32, "fp32"
    if params.quantize:
        prepared = work / "model_prep.onnx"
        quant_pre_process(str(fp32), str(prepared))
        # Disjoint training images: ranges from one set, bias correction from another.
        train = read_records(records_path, "train")
        chosen_for_ranges = spread(train, params.calibration_images)
        calibration = preprocess_records(chosen_for_ranges, spec)
        taken = set(chosen_for_ranges)
        rest = [r for r in train if r not in taken]
        correction = preprocess_records(spread(rest, params.bias_correction_images), spec)
        candidates: dict[str, dict[str, Any]] = {}
        for method, float_convs in itertools.product(
            params.calibration_methods, params.float_convs
        ):
            name = f"{method}/float{float_convs}"
            path = work / f"model_int8_{method}_{float_convs}.onnx"
            quantize_int8(prepared, path, calibration, method, correction, float_convs)
            candidates[name] = parity(fp32_logits, run(path, val_x), val_y, metadata)
            candidates[name].update(
                method=method,
                float_convs=float_convs,
                path=str(path),
                latency=latency(path, spec),
            )
            log.info("int8 %s: %s", name, candidates[name])
        # Among candidates that pass the gate, the one with fewest fp32 layers (fastest).
        best = max(
            candidates,
            key=lambda n: (
                passes(candidates[n], params),
                -candidates[n]["float_convs"],
                candidates[n]["agreement"],
            ),
        )
        report["int8"] = candidates
        report["int8_best"] = best
        promoted = passes(candidates[best], params)
        report["int8_promoted"] = promoted
        if promoted:
            chosen, precision = Path(candidates[best]["path"]), f"int8-{best}"
            report["latency_int8"] = candidates[best]["latency"]
        for result in candidates.values():
            del result["path"]
    report["latency_fp32"] = latency(fp32, spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(chosen, out_dir / metadata.model_file)
    size_mb = (out_dir / metadata.model_file).stat().st_size / 1e6
    report["model_size_mb"] = size_mb
    metadata.replace(precision=precision, extra={**metadata.extra, "export": report}).save(out_dir)
    shutil.rmtree(work, ignore_errors=True)
    log.info("exported %s model (%.1f MB) to %s", precision, size_mb, out_dir)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--checkpoint", type=Path, default=Path("models/checkpoint.pt"))
    parser.add_argument("--records", type=Path, default=Path("data/prepared/records.csv"))
    parser.add_argument("--out", type=Path, default=Path("models/model"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics/export.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    params = load_params(args.params).export
    with stage_run("export", params) as mlflow:
        report = export(params, args.checkpoint, args.records, args.out)
        args.metrics.parent.mkdir(parents=True, exist_ok=True)
        args.metrics.write_text(json.dumps(report, indent=2) + "\n")
        log_artifacts(mlflow, args.metrics, args.out / "metadata.json")
        register_onnx(mlflow, args.out / ModelMetadata.load(args.out).model_file, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
