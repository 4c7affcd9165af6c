"""Predictor on a real (tiny) ONNX model: pixels reach the model, errors stay per image."""

from __future__ import annotations

import numpy as np
import pytest

from ai_detector.inference.errors import InputError, NotAnImageError
from ai_detector.inference.metadata import ModelMetadata
from ai_detector.inference.predictor import (
    DEFAULT_MODEL_DIR,
    MODEL_DIR_ENV,
    Predictor,
    decide,
    resolve_model_dir,
    softmax,
)
from tests.conftest import write_tiny_onnx_model


@pytest.fixture
def predictor(tiny_model_dir):
    return Predictor(tiny_model_dir, threads=1)


def test_labels_follow_the_pixels(predictor, make_image):
    results = predictor.predict_bytes(
        [make_image(tint="red"), make_image(tint="blue"), make_image()]
    )
    assert [r.label for r in results] == ["AI-generated", "Deepfake", "Real"]


def test_answer_shape(predictor, make_image):
    result = predictor.predict_one(make_image("PNG", size=(64, 48)))
    body = result.to_dict()
    assert set(body) == {"label", "confidence", "probabilities", "model_version", "provenance"}
    assert body["provenance"]["source"] == "none"
    assert set(body["probabilities"]) == {"Real", "AI-generated", "Deepfake"}
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert body["confidence"] == body["probabilities"][body["label"]]
    assert body["model_version"] == "tiny-test-1"


def test_provenance_rides_along_and_leaves_the_verdict_alone(predictor):
    from PIL import PngImagePlugin

    from tests.conftest import encode_image, textured_image

    image = textured_image(size=(64, 48), tint="red")
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a red square\nSteps: 20, Sampler: Euler")
    stated, bare = encode_image(image, "PNG", pnginfo=info), encode_image(image, "PNG")
    with_metadata, bad, without = predictor.predict_bytes([stated, b"not an image", bare])
    assert with_metadata.provenance["source"] == "generator-metadata"
    assert without.provenance["source"] == "none"
    assert bad.code == "not_an_image"
    # The same pixels: the metadata changes nothing the model sees.
    assert with_metadata.probabilities == without.probabilities


def test_a_bad_image_does_not_spoil_its_batch(predictor, make_image):
    results = predictor.predict_bytes(
        [make_image(tint="red"), b"not an image", make_image(tint="blue")]
    )
    assert results[0].label == "AI-generated"
    assert isinstance(results[1], NotAnImageError)
    assert results[2].label == "Deepfake"


def test_predict_one_raises_input_errors(predictor):
    with pytest.raises(InputError):
        predictor.predict_one(b"")


def test_batch_equals_single(predictor, make_image):
    images = [make_image(seed=s, tint=t) for s, t in ((1, "red"), (2, "none"), (3, "blue"))]
    batched = predictor.predict_bytes(images)
    singles = [predictor.predict_one(image) for image in images]
    for one, other in zip(batched, singles, strict=True):
        assert one.probabilities == pytest.approx(other.probabilities, abs=1e-5)


def test_threshold_turns_doubt_into_a_fake_verdict():
    meta = ModelMetadata(
        labels=("Real", "AI-generated", "Deepfake"), version="1", fake_threshold=0.3
    )
    probabilities = np.array([[0.65, 0.2, 0.15], [0.75, 0.1, 0.15], [0.2, 0.3, 0.5]])
    assert decide(probabilities, meta).tolist() == [1, 0, 2]


def test_temperature_softens_probabilities():
    logits = np.array([[2.0, 0.0]])
    assert softmax(logits, 2.0)[0, 0] < softmax(logits, 1.0)[0, 0]


def test_model_directory_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(MODEL_DIR_ENV, raising=False)
    assert resolve_model_dir() == DEFAULT_MODEL_DIR
    write_tiny_onnx_model(tmp_path / "models" / "model")
    assert resolve_model_dir().resolve() == (tmp_path / "models" / "model").resolve()
    other = tmp_path / "elsewhere"
    write_tiny_onnx_model(other)
    monkeypatch.setenv(MODEL_DIR_ENV, str(other))
    assert resolve_model_dir() == other
    with pytest.raises(FileNotFoundError, match="not a model directory"):
        resolve_model_dir(tmp_path / "missing")
