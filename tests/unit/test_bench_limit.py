"""The benchmark's fallback share: how many of its images a cascade runs again in fp32."""

from __future__ import annotations

from bench.limit import fallback_share
from bench.workload import Item

from ai_detector.inference.predictor import Predictor
from tests.conftest import write_tiny_onnx_model


def test_fallback_share_counts_the_images_near_a_boundary(tmp_path, make_image):
    items = [Item(f"{tint}{seed}", "jpeg", make_image(seed=seed, tint=tint))
             for seed in range(3) for tint in ("red", "blue", "none")]  # fmt: skip
    model_dir = tmp_path / "model"
    write_tiny_onnx_model(model_dir, file="model_fp32.onnx")
    metadata = write_tiny_onnx_model(model_dir)
    assert fallback_share(Predictor(model_dir, threads=1), items) == 0.0  # no fallback model
    cascade = metadata.replace(fallback_model_file="model_fp32.onnx")
    cascade.replace(fallback_margin=1e6).save(model_dir)
    assert fallback_share(Predictor(model_dir, threads=1), items) == 1.0
    cascade.replace(fallback_margin=0.0).save(model_dir)
    assert fallback_share(Predictor(model_dir, threads=1), items) == 0.0
