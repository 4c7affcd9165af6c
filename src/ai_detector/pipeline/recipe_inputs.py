"""The networks and views the recipe experiments fit probes on (ai_detector.pipeline.recipes).

    from ai_detector.pipeline.recipe_inputs import networks, view_features, serving_ms

Two frozen networks: ``cnn``, the ImageNet EfficientNet-Lite0 the shipped model starts
from (a model directory with a zero head, so that its pooled features are what the
``head`` recipe trains on), and ``teacher``, the CLIP ViT-B/16 image encoder of
ai_detector.pipeline.teacher. Either one is read through the feature cache of
ai_detector.pipeline.onnx_features, in one of four views of an image (Recipe.view).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from ai_detector.inference.metadata import ImageSpec, ModelMetadata
from ai_detector.inference.preprocess import preprocess_bytes
from ai_detector.pipeline.backbone import BACKBONE, backbone_image_spec
from ai_detector.pipeline.data.records import DEEPFAKE, REAL, Record, ordered_labels
from ai_detector.pipeline.export import export_onnx
from ai_detector.pipeline.model import DetectorNet
from ai_detector.pipeline.onnx_features import Extractor, FeatureExtractor, Transform, cached_run
from ai_detector.pipeline.params import Params
from ai_detector.pipeline.teacher import EmbeddingExtractor, teacher_model
from ai_detector.pipeline.views import native_crop, textured_crop

TEXTURED_CROPS = 3
NETWORKS = ("cnn", "teacher")


def imagenet_probe(out: Path, params: Params) -> Path:
    """A model directory whose network is the ImageNet backbone with a zero head: its
    pooled features are what the ``head`` recipe trains on."""
    if (out / "metadata.json").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    spec = backbone_image_spec()
    labels = ordered_labels({REAL, "AI-generated", DEEPFAKE})
    model = DetectorNet(len(labels), taps=params.train.taps).eval()
    export_onnx(model, spec, out / "model.onnx", params.export.opset)
    ModelMetadata(
        labels=labels,
        version="imagenet-probe",
        backbone=BACKBONE,
        **dataclasses.asdict(spec),
        extra={"architecture": {"taps": list(params.train.taps)}},
    ).save(out)
    return out


def networks(
    names: set[str],
    params: Params,
    probe_model: Path,
    teacher: tuple[Path, Path],
    threads: int,
) -> dict[str, Extractor]:
    """The extractors of ``names`` (a subset of NETWORKS), each on ``threads`` threads;
    the teacher as ``teacher``'s config file records it, fetched into its cache folder."""
    unknown = names - set(NETWORKS)
    if unknown:
        raise ValueError(f"unknown networks {sorted(unknown)}; known: {NETWORKS}")
    found: dict[str, Extractor] = {}
    if "cnn" in names:
        found["cnn"] = FeatureExtractor(imagenet_probe(probe_model, params), threads)
    if "teacher" in names:
        found["teacher"] = EmbeddingExtractor(teacher_model(*teacher), threads)
    return found


def view_features(
    extractor: Extractor, records: list[Record], view: str, cache: Path, batch: int
) -> np.ndarray:
    def run(tag: str, transform: Transform | None) -> np.ndarray:
        return cached_run(extractor, records, cache, batch, tag, transform)[0]

    native = lambda r: native_crop(r, extractor.spec)  # noqa: E731
    if view == "clean":
        return run("clean", None)
    if view == "native":
        return run("native", native)
    if view == "textured":  # the mean of the TEXTURED_CROPS most textured crops' features
        return np.mean(
            [
                run(f"textured{rank}of{TEXTURED_CROPS}", _textured(extractor.spec, rank))
                for rank in range(TEXTURED_CROPS)
            ],
            axis=0,
        )
    return (run("clean", None) + run("native", native)) / 2


def _textured(spec: ImageSpec, rank: int) -> Transform:
    return lambda r: textured_crop(r, spec, rank, TEXTURED_CROPS)


def serving_ms(extractors: list[Extractor], records: list[Record], view: str) -> float:
    """Median ms per image at batch 1: decode, preprocess (per view) and every network."""
    times = []
    for record in records:
        started = time.perf_counter()
        for extractor in extractors:
            spec = extractor.spec
            arrays = []
            if view in ("clean", "both"):
                arrays.append(preprocess_bytes(record.read_bytes(), spec))
            if view in ("native", "both"):
                arrays.append(native_crop(record, spec))
            if view == "textured":
                arrays += [
                    textured_crop(record, spec, k, TEXTURED_CROPS) for k in range(TEXTURED_CROPS)
                ]
            for array in arrays:
                extractor.run(array[None])
        times.append(time.perf_counter() - started)
    return float(np.median(times) * 1000)


def fused(scores: list[np.ndarray]) -> np.ndarray:
    """P(not real) of several opinions: the mean of their log-odds, back to a probability."""
    eps = 1e-6
    clipped = [np.clip(s, eps, 1 - eps) for s in scores]
    mean = np.mean([np.log(c / (1 - c)) for c in clipped], axis=0)
    return 1.0 / (1.0 + np.exp(-mean))
