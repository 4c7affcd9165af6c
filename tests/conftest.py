"""Shared fixtures: tiny images made in memory and a tiny ONNX model directory.

Nothing here reads ../shared or the network: every image and model is built by the
test run itself.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from harness.images import encode, photo_like
from PIL import Image

from ai_detector.inference.metadata import ModelMetadata

TINY_LABELS = ("Real", "AI-generated", "Deepfake")
# The input of the tiny test models (ModelMetadata's ImageSpec fields): what the shipped
# EfficientNet-Lite0 takes, so the tests preprocess what production does.
TINY_INPUT: dict[str, Any] = {
    "backbone": "tiny",
    "input_size": 224,
    "resize_size": 256,
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
}


encode_image = encode


def textured_image(
    size: tuple[int, int] = (320, 240), seed: int = 0, tint: str = "none"
) -> Image.Image:
    """A photo-like RGB image (harness.images) whose channel means are mid-grey, or tinted
    "red" or "blue" for the tiny model's AI-generated and Deepfake."""
    return photo_like(seed, *size, tint=tint)


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    """Encoded image bytes: make_image(fmt="PNG", size=(64, 48), seed=1, tint="red")."""

    def _make(
        fmt: str = "JPEG", size: tuple[int, int] = (320, 240), seed: int = 0, tint: str = "none"
    ) -> bytes:
        image = textured_image(size, seed, tint)
        if fmt == "GIF":
            image = image.convert("P")
        return encode_image(image, fmt)

    return _make


def write_tiny_onnx_model(
    model_dir: Path,
    labels: tuple[str, ...] = TINY_LABELS,
    *,
    file: str = "model.onnx",
    real_bias_shift: float = 0.0,
) -> ModelMetadata:
    """A real ONNX classifier small enough to build in milliseconds.

    It averages each colour channel and maps the three means linearly to one logit
    per label: red-tinted images come out "AI-generated", blue ones "Deepfake",
    neutral ones "Real" — enough to check that pixels really reach the model.
    ``real_bias_shift`` moves the Real logit: a stand-in for a quantised copy that
    drifted from its original.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.zeros((3, len(labels)), dtype=np.float32)
    weights[0, 1] = 6.0  # red   -> AI-generated
    if len(labels) > 2:
        weights[2, 2] = 6.0  # blue  -> Deepfake
    bias = np.array([1.0 + real_bias_shift, -1.0, -1.0][: len(labels)], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input"], ["pooled"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["pooled", "W"], ["scores"]),
            helper.make_node("Add", ["scores", "B"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", len(labels)])],
        [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    model_dir.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(model_dir / file))
    metadata = ModelMetadata(labels=labels, version="tiny-test-1", fake_threshold=0.5, **TINY_INPUT)
    metadata.save(model_dir)
    return metadata


@pytest.fixture
def tiny_model_dir(tmp_path: Path) -> Path:
    model_dir = tmp_path / "tiny_model"
    write_tiny_onnx_model(model_dir)
    return model_dir


# Train settings that learn the tiny fixture sets in seconds (a faster head than the real
# recipe's: 30 epochs), for the tests that run the train stage's code.
TINY_TRAINING: dict[str, Any] = {
    "lr": 0.003,
    "weight_decay": 0.01,
    "finetune_from": 5,
    "epochs": 30,
    "augment_views": 1,
    "batch_size": 8,
    "finetune_batch_size": 8,
}


def repo_params(section: str, **changes: Any) -> Any:
    """A section of the repository's params.yaml with some values changed: the dataclasses
    have no defaults of their own (params.yaml is the one source of them)."""
    from ai_detector.pipeline.params import load_params

    values = getattr(load_params(Path(__file__).resolve().parents[1] / "params.yaml"), section)
    return dataclasses.replace(values, **changes)


def run_make(*args: str) -> subprocess.CompletedProcess[str]:
    """`make <args>` in the repository, its output captured. -o: the .venv is set up
    already; the outer `make test`'s flags must not reach this make, so it starts clean."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", *args]
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, check=False)
