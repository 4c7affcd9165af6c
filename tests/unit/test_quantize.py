"""int8 quantisation: the trunk is quantised, the head is not, bias correction works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from ai_detector.pipeline.quantize import channel_means, quantize_int8


def _small_convnet(path: Path) -> None:
    """conv 3x3 + ReLU6, linear 1x1 projection (the kind whose mean int8 shifts most),
    global mean, Gemm head: the shape of the detector in miniature."""
    rng = np.random.default_rng(0)
    weights = {
        "w1": rng.normal(0, 0.3, (16, 3, 3, 3)),
        "b1": rng.normal(0.5, 0.2, 16),
        "w2": rng.normal(0, 0.3, (8, 16, 1, 1)),
        "b2": rng.normal(0, 0.1, 8),
        "wh": rng.normal(0, 1.0, (3, 8)),
        "bh": np.zeros(3),
        "lo": np.array(0.0),
        "hi": np.array(6.0),
    }
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], name="conv1", strides=[2, 2]),
        helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"], name="relu6"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="project"),
        helper.make_node("ReduceMean", ["c2"], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("Gemm", ["pooled", "wh", "bh"], ["logits"], name="head", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _images(seed: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = rng.normal(0, 1, (count, 3, 4, 4)).repeat(8, axis=2).repeat(8, axis=3)
    return (smooth + rng.normal(0, 0.3, (count, 3, 32, 32))).astype(np.float32)


@pytest.fixture(scope="module")
def fp32_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("quantize") / "fp32.onnx"
    _small_convnet(path)
    return path


def _logits(path: Path, images: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input": images})[0])


def _projection_mean_error(fp32_path: Path, int8_path: Path, images: np.ndarray) -> float:
    """Mean |channel mean difference| of the projection conv's output, int8 vs fp32."""
    int8 = onnx.load(str(int8_path))
    readers = {i: n for n in int8.graph.node for i in n.input}
    dequantized = readers[readers["c2"].output[0]].output[0]  # c2 -> Q -> DQ
    (reference,) = channel_means(onnx.load(str(fp32_path)), ["c2"], images)
    (current,) = channel_means(int8, [dequantized], images)
    return float(np.abs(reference - current).mean())


def test_trunk_is_int8_and_the_head_stays_fp32(fp32_path, tmp_path):
    int8 = quantize_int8(fp32_path, tmp_path / "int8.onnx", _images(1, 32), "MinMax")
    graph = onnx.load(str(int8)).graph
    producer = {out: node for node in graph.node for out in node.output}
    conv = next(n for n in graph.node if n.name == "project")
    head = next(n for n in graph.node if n.op_type == "Gemm")
    assert producer[conv.input[1]].op_type == "DequantizeLinear"  # int8 weights
    assert all(
        producer.get(name) is None or producer[name].op_type != "DequantizeLinear"
        for name in head.input
    )
    assert not any(
        i.data_type == TensorProto.INT8 and i.name.startswith("wh") for i in graph.initializer
    )


def test_bias_correction_removes_the_mean_shift_on_unseen_images(fp32_path, tmp_path):
    calibration, correction, unseen = _images(1, 32), _images(2, 64), _images(3, 64)
    plain = quantize_int8(fp32_path, tmp_path / "plain.onnx", calibration, "MinMax")
    corrected = quantize_int8(
        fp32_path, tmp_path / "corrected.onnx", calibration, "MinMax", correction
    )
    before = _projection_mean_error(fp32_path, plain, unseen)
    after = _projection_mean_error(fp32_path, corrected, unseen)
    assert after < 0.5 * before
    reference = _logits(fp32_path, unseen)
    assert (
        np.abs(_logits(corrected, unseen) - reference).mean()
        < np.abs(_logits(plain, unseen) - reference).mean()
    )


def test_no_correction_images_means_no_correction(fp32_path, tmp_path):
    calibration = _images(1, 32)
    plain = quantize_int8(fp32_path, tmp_path / "a.onnx", calibration, "MinMax")
    empty = np.zeros((0, 3, 32, 32), np.float32)
    same = quantize_int8(fp32_path, tmp_path / "b.onnx", calibration, "MinMax", empty)
    assert plain.read_bytes() == same.read_bytes()


def test_float_convs_keeps_the_first_convolutions_in_fp32(fp32_path, tmp_path):
    int8 = quantize_int8(fp32_path, tmp_path / "f.onnx", _images(1, 32), "MinMax", float_convs=1)
    graph = onnx.load(str(int8)).graph
    producer = {out: node for node in graph.node for out in node.output}
    first = next(n for n in graph.node if n.name == "conv1")
    assert first.input[0] == "input" and first.input[1] == "w1"  # fp32 image, fp32 weights
    project = next(n for n in graph.node if n.name == "project")
    assert producer[project.input[1]].op_type == "DequantizeLinear"
