"""Give an exported classifier class-activation outputs, by editing its ONNX graph.

    python -m ai_detector.pipeline.cam_graph models/model/model.onnx [more.onnx ...]   # in place
    from ai_detector.pipeline.cam_graph import add_cam_outputs, cam_output_names

The head (ai_detector.pipeline.model.DetectorNet) is linear over the spatial means of several
feature maps (the taps), standardised: ``logits = W @ ((concat(mean_hw F_t) - mu) / sigma)
+ b``. A linear map commutes with the mean, so for every tap ``t`` the 1x1 convolution
``cam_t = (W_t / sigma_t) @ (F_t - mu_t)`` gives one map per class whose spatial mean is
exactly that tap's share of each logit: the class-activation map (Zhou et al. 2016),
computed from the same tensors as the verdict and without autograd.

The edit finds the head (Gemm or MatMul [+ Add] <- [Div] <- [Sub] <- [Concat] <- ReduceMean
over H, W) and
adds one Conv per tap with its output ``cam_<i>`` (N, classes, h_i, w_i) as an extra graph
output after ``logits``; ``logits`` stays the first output and keeps its values. Note that
onnxruntime executes every node of the graph whatever outputs a ``run`` asks for (its
profiler shows the ``cam_*`` convolutions in a logits-only run), so the added work is kept
small on purpose: 1x1 convolutions to one channel per class, about 0.4 M multiply-adds
for EfficientNet-Lite0's taps against the network's ~400 M. Works on the fp32 file and on
the int8 (QDQ) ones alike, whose head stays fp32.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ai_detector.inference.predictor import CAM_PREFIX

log = logging.getLogger(__name__)


class NoHeadError(ValueError):
    """The graph has no linear head over pooled feature maps to explain."""


@dataclass(frozen=True)
class Head:
    taps: list[str]  # the feature maps (N, K_t, h, w) the head pools, in Concat order
    widths: list[int]  # channels per tap
    weight: np.ndarray  # (classes, features), the standardisation folded in
    centre: np.ndarray  # (features,), subtracted from the pooled features first


def cam_output_names(model: onnx.ModelProto) -> list[str]:
    return [o.name for o in model.graph.output if o.name.startswith(CAM_PREFIX)]


def _constant(graph: onnx.GraphProto, name: str) -> np.ndarray | None:
    for init in graph.initializer:
        if init.name == name:
            return np.asarray(numpy_helper.to_array(init))
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return np.asarray(numpy_helper.to_array(node.attribute[0].t))
    return None


def _channels(model: onnx.ModelProto, name: str) -> int:
    inferred = onnx.shape_inference.infer_shapes(model)
    for value in (*inferred.graph.value_info, *inferred.graph.input):
        if value.name == name:
            dims = value.type.tensor_type.shape.dim
            if len(dims) == 4 and dims[1].HasField("dim_value"):
                return int(dims[1].dim_value)
    raise NoHeadError(f"the channel count of {name} is unknown (no shape information)")


def _linear(graph: onnx.GraphProto, producers: dict[str, onnx.NodeProto]) -> tuple[str, np.ndarray]:
    """The head's input tensor and weight (classes, features): Gemm, or MatMul [+ Add]."""
    node = producers.get(graph.output[0].name)
    if node is not None and node.op_type == "Add":
        constants = [_constant(graph, name) is not None for name in node.input]
        if constants.count(True) == 1:
            node = producers.get(node.input[constants.index(False)])
    if node is not None and node.op_type == "MatMul":
        weight = _constant(graph, node.input[1])
        if weight is not None and weight.ndim == 2:
            return node.input[0], weight.T.astype(np.float64)
    if node is not None and node.op_type == "Gemm":
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        weight = _constant(graph, node.input[1])
        if (
            weight is not None
            and not attributes.get("transA", 0)
            and attributes.get("alpha", 1.0) == 1.0
        ):
            weight = weight.astype(np.float64)
            return node.input[0], weight if attributes.get("transB", 0) else weight.T
    raise NoHeadError(f"no linear layer with constant weights produces {graph.output[0].name}")


def _pooled_map(graph: onnx.GraphProto, node: onnx.NodeProto | None) -> str:
    """The feature map a ReduceMean over height and width reads."""
    if node is None or node.op_type != "ReduceMean":
        raise NoHeadError("the head does not read spatial means (ReduceMean)")
    axes: np.ndarray | None = None
    if len(node.input) > 1:
        axes = _constant(graph, node.input[1])
    for attribute in node.attribute:
        if attribute.name == "axes":
            axes = np.asarray(helper.get_attribute_value(attribute))
    if axes is None or sorted(int(a) % 4 for a in axes.ravel()) != [2, 3]:
        raise NoHeadError(f"{node.output[0]} does not pool over height and width")
    return str(node.input[0])


def head_input(model: onnx.ModelProto) -> str:
    """The vector the linear head reads, before any standardisation (Sub/Div)."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    tensor, _ = _linear(graph, producers)
    while tensor in producers and producers[tensor].op_type in ("Div", "Sub"):
        tensor = producers[tensor].input[0]
    return tensor


def find_head(model: onnx.ModelProto) -> Head:
    """The linear head over pooled taps, or :class:`NoHeadError` naming what is missing."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    tensor, weight = _linear(graph, producers)
    centre = np.zeros(weight.shape[1])
    # Walk back over the standardisation: (x - mean) / std.
    while tensor in producers and producers[tensor].op_type in ("Div", "Sub"):
        node = producers[tensor]
        operand = _constant(graph, node.input[1])
        if operand is None:
            raise NoHeadError(f"{node.op_type} before the head has no constant operand")
        if node.op_type == "Div":
            weight = weight / operand.astype(np.float64)
        else:
            centre = centre + operand.astype(np.float64)
        tensor = node.input[0]
    node = producers.get(tensor)
    pooled = list(node.input) if node is not None and node.op_type == "Concat" else [tensor]
    taps = [_pooled_map(graph, producers.get(name)) for name in pooled]
    widths = [_channels(model, tap) for tap in taps]
    if sum(widths) != weight.shape[1]:
        raise NoHeadError(f"tap widths {widths} do not add up to {weight.shape[1]} features")
    return Head(taps, widths, weight, centre)


def add_cam_outputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``model`` with outputs ``cam_0``...; a model that has them is returned as is."""
    if cam_output_names(model):
        return model
    head = find_head(model)
    edited = onnx.ModelProto()
    edited.CopyFrom(model)
    graph = edited.graph
    classes = head.weight.shape[0]
    start = 0
    for index, (tap, width) in enumerate(zip(head.taps, head.widths, strict=True)):
        part = head.weight[:, start : start + width]
        bias = -(part @ head.centre[start : start + width])
        start += width
        name = f"{CAM_PREFIX}{index}"
        graph.initializer.extend(
            [
                numpy_helper.from_array(part[:, :, None, None].astype(np.float32), f"{name}_w"),
                numpy_helper.from_array(bias.astype(np.float32), f"{name}_b"),
            ]
        )
        graph.node.append(
            helper.make_node("Conv", [tap, f"{name}_w", f"{name}_b"], [name], name=f"{name}_conv")
        )
        graph.output.append(
            helper.make_tensor_value_info(
                name, onnx.TensorProto.FLOAT, ["batch", classes, f"h{index}", f"w{index}"]
            )
        )
    onnx.checker.check_model(edited)
    return edited


def add_cam_outputs_file(path: Path) -> bool:
    """Edit ``path`` in place; False when it already had the outputs."""
    model = onnx.load(str(path))
    edited = add_cam_outputs(model)
    if edited is model:
        return False
    onnx.save(edited, str(path))
    log.info("%s: added %s", path, ", ".join(cam_output_names(edited)))
    return True


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in sys.argv[1:] if argv is None else argv:
        if not add_cam_outputs_file(Path(name)):
            log.info("%s already has class-activation outputs", name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
