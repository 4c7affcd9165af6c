"""int8 sessions sum exactly on every x86 CPU (no int16 saturation on AVX2-only CPUs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ai_detector.predictor import onnx_session

CHANNELS = 64


def _saturating_conv(path: Path) -> None:
    """A QDQ 1x1 convolution whose uint8 inputs (255) and int8 weights (127) make every
    adjacent pair of products 64,770: more than int16 holds, which is what AVX2's
    u8*s8 instruction adds them into. The exact output is CHANNELS (1.0 * 1.0 each)."""
    initializers = {
        "x_scale": np.array(1 / 255, np.float32),
        "x_zero": np.array(0, np.uint8),
        "w": np.full((8, CHANNELS, 1, 1), 127, np.int8),
        "w_scale": np.array(1 / 127, np.float32),
        "w_zero": np.array(0, np.int8),
        "b": np.zeros(8, np.int32),
        "b_scale": np.array(1 / (255 * 127), np.float32),
        "b_zero": np.array(0, np.int32),
        "y_scale": np.array(0.5, np.float32),
        "y_zero": np.array(0, np.uint8),
    }
    nodes = [
        helper.make_node("QuantizeLinear", ["input", "x_scale", "x_zero"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "x_scale", "x_zero"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "w_scale", "w_zero"], ["wd"]),
        helper.make_node("DequantizeLinear", ["b", "b_scale", "b_zero"], ["bd"]),
        helper.make_node("Conv", ["xd", "wd", "bd"], ["y"]),
        helper.make_node("QuantizeLinear", ["y", "y_scale", "y_zero"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "y_scale", "y_zero"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "saturating",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, CHANNELS, 4, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8, 4, 4])],
        [numpy_helper.from_array(v, k) for k, v in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_int8_convolutions_sum_exactly(tmp_path):
    path = tmp_path / "saturating.onnx"
    _saturating_conv(path)
    session = onnx_session(path, threads=1)
    ones = np.ones((1, CHANNELS, 4, 4), np.float32)
    (output,) = session.run(None, {"input": ones})
    np.testing.assert_allclose(output, float(CHANNELS))
