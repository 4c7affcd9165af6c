"""A model's own pooled features and logits, from its fp32 ONNX file, cached per image.

    python -m ai_detector.pipeline.onnx_features --model models/model IMAGE...  # size, verdict

The linear head of an exported model reads one vector per image: the pooled taps and last
layer, concatenated (ai_detector.cam_graph finds it). Exposing that vector as an extra
graph output gives, in one run, the features that leave-one-source-out refits a head on
and the model's own logits. For a model trained with the ``head`` recipe these are the
frozen ImageNet backbone's features; for a fine-tuned one, its tuned backbone's.

The cache keeps one ``.npz`` shard per call under ``<cache>/<model file sha256>-<tag>/``,
so adding images only computes the new ones and a changed model never reads stale ones.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from ai_detector.inference.metadata import ImageSpec, ModelMetadata
from ai_detector.inference.preprocess import preprocess_bytes
from ai_detector.pipeline.cam_graph import head_input
from ai_detector.pipeline.data.records import Record

log = logging.getLogger(__name__)

FEATURES = "pooled_features"


def with_feature_output(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` that also outputs the head's input vector as ``pooled_features``."""
    edited = onnx.ModelProto()
    edited.CopyFrom(model)
    tensor = head_input(edited)
    edited.graph.node.append(helper.make_node("Identity", [tensor], [FEATURES]))
    edited.graph.output.append(
        helper.make_tensor_value_info(FEATURES, onnx.TensorProto.FLOAT, ["batch", "features"])
    )
    return edited


def fp32_file(metadata: ModelMetadata) -> str:
    """The fp32 model file: the reference that every int8 candidate was checked against."""
    for candidate in metadata.candidates:
        if candidate.name == "fp32":
            return candidate.model_file
    if metadata.precision != "fp32":
        raise ValueError(f"model {metadata.version} ships no fp32 file")
    return metadata.model_file


class Extractor(Protocol):
    """What cached_run needs of a network: its input spec, a key naming its weights in
    the cache, its labels, and a batch -> (features, logits) run."""

    metadata: ModelMetadata
    spec: ImageSpec
    key: str

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class FeatureExtractor:
    """Features (N, D) and logits (N, labels) of a model directory's fp32 network."""

    def __init__(self, model_dir: Path, threads: int) -> None:
        self.metadata = ModelMetadata.load(model_dir)
        self.spec: ImageSpec = self.metadata.image_spec
        path = model_dir / fp32_file(self.metadata)
        data = path.read_bytes()
        self.key = hashlib.sha256(data).hexdigest()[:16]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        model = with_feature_output(onnx.load_from_string(data))
        self.session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.logits_name = self.session.get_outputs()[0].name

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features, logits = self.session.run([FEATURES, self.logits_name], {self.input_name: batch})
        return np.asarray(features), np.asarray(logits)


Transform = Callable[[Record], np.ndarray]
# A record's image as encoded bytes: a re-encoded or resized version of its file.
ImageBytes = Callable[[Record], bytes]


def bytes_transform(image_bytes: ImageBytes | None, spec: ImageSpec) -> Transform | None:
    """The Transform that preprocesses ``image_bytes``'s output by ``spec`` (None stays None:
    cached_run's default reads the file's own bytes)."""
    if image_bytes is None:
        return None
    return lambda record: preprocess_bytes(image_bytes(record), spec)


def cached_run(
    extractor: Extractor,
    records: Sequence[Record],
    cache_dir: Path | None,
    batch_size: int,
    tag: str = "clean",
    transform: Transform | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Features and logits for ``records`` in order; ``transform`` makes a record's input
    array (default: the serving preprocessing of its bytes), ``tag`` names it in the cache."""
    make = transform or (lambda r: preprocess_bytes(r.read_bytes(), extractor.spec))
    folder = cache_dir / f"{extractor.key}-{tag}" if cache_dir else None
    known: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if folder and folder.is_dir():
        for shard in sorted(folder.glob("*.npz")):
            with np.load(shard) as stored:
                for sha, feats, logits in zip(
                    stored["sha256"], stored["features"], stored["logits"], strict=True
                ):
                    known[str(sha)] = (feats, logits)
    missing = list({r.sha256: r for r in records if r.sha256 not in known}.values())
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        feats, logits = extractor.run(np.stack([make(r) for r in chunk]))
        known.update({r.sha256: (f, lg) for r, f, lg in zip(chunk, feats, logits, strict=True)})
        if start // batch_size % 50 == 0:
            log.info("%s features: %d of %d computed", tag, start + len(chunk), len(missing))
    if folder and missing:
        folder.mkdir(parents=True, exist_ok=True)
        shas = [r.sha256 for r in missing]
        np.savez(
            folder / f"{len(list(folder.glob('*.npz'))):05d}.npz",
            sha256=np.array(shas),
            features=np.stack([known[s][0] for s in shas]),
            logits=np.stack([known[s][1] for s in shas]),
        )
    log.info("%s features: %d computed, %d cached", tag, len(missing), len(records) - len(missing))
    if not records:
        return np.zeros((0, 0), np.float32), np.zeros((0, len(extractor.metadata.labels)))
    return (
        np.stack([known[r.sha256][0] for r in records]),
        np.stack([known[r.sha256][1] for r in records]),
    )


def main(argv: list[str] | None = None) -> int:
    from ai_detector.inference.decision import softmax

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("images", nargs="+", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    extractor = FeatureExtractor(args.model, threads=1)
    for path in args.images:
        features, logits = extractor.run(preprocess_bytes(path.read_bytes(), extractor.spec)[None])
        probs = softmax(logits, extractor.metadata.temperature)[0]
        log.info("%s: %d features, P=%s", path, features.shape[1], np.round(probs, 3).tolist())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
