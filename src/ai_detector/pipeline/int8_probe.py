"""Build the int8 probe model that :mod:`ai_detector.inference.sessions` ships and runs.

    python -m ai_detector.pipeline.int8_probe   # rewrites inference/int8_probe.onnx

The probe is a QDQ 1x1 convolution: uint8 inputs of 255 times int8 weights of 127 make
every adjacent pair of products 64,770, more than int16 holds. With input 1.0 (quantised
to 255) and weights 1.0 (127) the exact output is ``PROBE_CHANNELS`` per pixel, so a CPU
whose plain kernels sum pairs in int16 (AVX2 without VNNI) answers less.

It is built here, with ``onnx`` (a training dependency), and shipped as a file, so the
inference core runs it with onnxruntime alone (tests/unit/test_int8_sessions.py checks
that the shipped file is this builder's model).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from onnx import ModelProto, TensorProto, helper, numpy_helper

from ai_detector.inference.sessions import PROBE_CHANNELS, PROBE_FILE

log = logging.getLogger(__name__)


def build() -> ModelProto:
    initializers: dict[str, np.ndarray] = {
        "x_scale": np.array(1 / 255, np.float32),
        "x_zero": np.array(0, np.uint8),
        "w": np.full((8, PROBE_CHANNELS, 1, 1), 127, np.int8),
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
        "int8_probe",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, PROBE_CHANNELS, 4, 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 8, 4, 4])],
        [numpy_helper.from_array(value, name) for name, value in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=PROBE_FILE)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.write_bytes(build().SerializeToString())
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
