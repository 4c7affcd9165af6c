"""Class-activation outputs added to an ONNX graph, and the heatmaps made from them.

The tiny test model (tests/conftest.py) pools the colour channels and maps them linearly to
the logits, so its class-activation map is known in closed form: a red patch in a neutral
image is where the evidence for "AI-generated" lies.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from PIL import Image

from ai_detector.inference.errors import NoExplanationError
from ai_detector.inference.explain import crop_box, explain_bytes
from ai_detector.inference.predictor import Predictor
from ai_detector.pipeline.cam_graph import (
    NoHeadError,
    add_cam_outputs,
    add_cam_outputs_file,
    find_head,
)
from tests.conftest import encode_image, write_tiny_onnx_model


@pytest.fixture
def cam_model_dir(tmp_path: Path) -> Path:
    model_dir = tmp_path / "cam_model"
    write_tiny_onnx_model(model_dir)
    assert add_cam_outputs_file(model_dir / "model.onnx")
    return model_dir


def patched(size=(400, 300), box=(150, 40, 330, 220), colour=(250, 40, 40)) -> bytes:
    """A neutral grey image with one coloured square at ``box``."""
    image = Image.new("RGB", size, (128, 128, 128))
    image.paste(colour, box)
    return encode_image(image, "PNG")


def test_cam_outputs_decompose_the_logits(tmp_path):
    write_tiny_onnx_model(tmp_path)
    plain = onnx.load(str(tmp_path / "model.onnx"))
    edited = add_cam_outputs(plain)
    assert [o.name for o in edited.graph.output] == ["logits", "cam_0"]
    assert add_cam_outputs(edited) is edited  # a second edit changes nothing
    x = np.random.default_rng(0).standard_normal((3, 3, 224, 224)).astype(np.float32)
    (before,) = ort.InferenceSession(plain.SerializeToString()).run(None, {"input": x})
    after, cam = ort.InferenceSession(edited.SerializeToString()).run(None, {"input": x})
    np.testing.assert_array_equal(before, after)
    assert cam.shape == (3, 3, 224, 224)
    # The head is linear: the maps' spatial means are the logits less the bias, per image.
    bias = np.array([1.0, -1.0, -1.0], np.float32)
    np.testing.assert_allclose(cam.mean(axis=(2, 3)) + bias, after, atol=1e-4)


def test_a_graph_without_a_pooled_linear_head_is_refused():
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["logits"])],
        "no_head",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
    )
    with pytest.raises(NoHeadError, match="no linear layer"):
        find_head(helper.make_model(graph))


def test_the_heat_peaks_in_the_red_patch_and_the_verdict_is_the_predictors(cam_model_dir):
    predictor = Predictor(cam_model_dir, threads=1)
    data = patched()
    (found,) = explain_bytes(predictor, [data])
    assert not isinstance(found, Exception)
    assert found.prediction == predictor.predict_one(data)
    answer = found.to_dict()
    explanation = answer["explanation"]
    assert (answer["label"], explanation["target"], explanation["against"]) == (
        "AI-generated",
        "AI-generated",
        "Real",
    )
    peak = explanation["peak"]
    assert 150 <= peak["x"] * 400 <= 330 and 40 <= peak["y"] * 300 <= 220
    # The model saw the central 300 x 300 * 224/256 square only.
    assert explanation["region"] == pytest.approx([0.17188, 0.0625, 0.82812, 0.9375], abs=1e-4)
    grid = np.array(explanation["grid"])
    assert grid.shape == (7, 7) and grid.max() == grid[1:5, 3:6].max() == 1.0
    assert grid[6, :2].max() < 0.01  # below and left of the patch: (almost) no evidence
    overlay = Image.open(io.BytesIO(base64.b64decode(explanation["overlay_png"])))
    layer = Image.open(io.BytesIO(base64.b64decode(explanation["heatmap_png"])))
    assert overlay.size == layer.size == (400, 300) and layer.mode == "RGBA"
    alpha = np.asarray(layer)[..., 3]
    assert alpha[45:215, 155:325].min() > 100 and alpha[230:, :140].max() <= 2


def test_bad_input_and_models_without_maps_give_clear_errors(tiny_model_dir, cam_model_dir):
    predictor = Predictor(cam_model_dir, threads=1)
    bad, good = explain_bytes(predictor, [b"%PDF-1.4 not an image", patched()])
    assert getattr(bad, "status", None) == 415 and not isinstance(good, Exception)
    with pytest.raises(NoExplanationError, match="no explanation outputs"):
        explain_bytes(Predictor(tiny_model_dir, threads=1), [patched()])


def test_crop_box_matches_preprocessing():
    assert crop_box((512, 256), 224, 256) == (144.0, 16.0, 368.0, 240.0)


def test_a_batch_mixing_predictions_and_explanations_answers_each_as_asked(cam_model_dir):
    from ai_detector.serving.answers import answer_batch

    predictor = Predictor(cam_model_dir, threads=1)
    requests = [{"body": patched()}, {"body": b"not an image"}, {"body": patched()}, {}]
    answers = answer_batch(predictor, requests, explain=[True, True, False, True])
    assert [a.status for a in answers] == [200, 415, 200, 400]
    assert "explanation" in answers[0].body and "explanation" not in answers[2].body
    assert answers[0].body["label"] == answers[2].body["label"] == "AI-generated"


def test_one_hostile_request_in_an_explanations_batch_fails_alone(cam_model_dir, monkeypatch):
    """Explanations take the predictions' path: a request that crashes the parser (a body
    that is no bytes) or the decoder gets its own 500, and its neighbours their heatmaps."""
    from ai_detector.inference import explain
    from ai_detector.serving.answers import answer_batch

    poison = patched(box=(10, 10, 60, 60))
    real_decode = explain.decode_image

    def decode(data: bytes, **kwargs):
        if data == poison:
            raise RuntimeError("decoder bug")
        return real_decode(data, **kwargs)

    monkeypatch.setattr(explain, "decode_image", decode)
    predictor = Predictor(cam_model_dir, threads=1)
    requests = [
        {"body": patched()},
        {"body": 1j},
        {"body": poison},
        {"body": patched(colour=(40, 40, 250))},
    ]
    answers = answer_batch(predictor, requests, explain=[True] * 4)
    assert [a.status for a in answers] == [200, 500, 500, 200]
    assert "explanation" in answers[0].body and "explanation" in answers[3].body
    assert answers[2].body["type"] == "internal_error"
