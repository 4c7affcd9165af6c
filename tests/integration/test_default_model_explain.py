"""The shipped model's files carry class-activation outputs, and they explain its verdicts."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from ai_detector.inference.explain import explain_bytes
from ai_detector.inference.metadata import ModelMetadata
from ai_detector.inference.predictor import DEFAULT_MODEL_DIR, Predictor
from tests.conftest import encode_image, textured_image
from tests.integration.test_default_model import PHOTOS, photo

pytestmark = pytest.mark.skipif(
    not (DEFAULT_MODEL_DIR / "metadata.json").is_file(), reason="no default model in the package"
)


@pytest.mark.parametrize("name", ModelMetadata.load(DEFAULT_MODEL_DIR).model_files)
def test_every_model_file_has_maps_that_add_up_to_its_logits(name):
    session = ort.InferenceSession(str(DEFAULT_MODEL_DIR / name))
    outputs = [o.name for o in session.get_outputs()]
    assert outputs == ["logits", "cam_0", "cam_1", "cam_2", "cam_3"]
    x = np.stack([np.asarray(textured_image((224, 224), seed), np.float32) for seed in range(3)])
    x = (x.transpose(0, 3, 1, 2) / 127.5 - 1).astype(np.float32)
    logits, *maps = session.run(None, {"input": x})
    assert [m.shape[2:] for m in maps] == [(28, 28), (14, 14), (7, 7), (7, 7)]
    # What the maps leave out is the head's bias alone: the same for every image.
    rest = logits - sum(m.mean(axis=(2, 3)) for m in maps)
    np.testing.assert_allclose(rest, np.broadcast_to(rest[0], rest.shape), atol=2e-3)


def test_explanations_give_the_predictors_verdicts():
    predictor = Predictor(DEFAULT_MODEL_DIR, threads=1)
    images = [encode_image(photo(name), "JPEG") for name in PHOTOS]
    found = explain_bytes(predictor, images)
    for data, explanation in zip(images, found, strict=True):
        assert not isinstance(explanation, Exception)
        assert explanation.prediction == predictor.predict_one(data)
        assert explanation.model_file in predictor.metadata.model_files
        assert explanation.heat.max() == pytest.approx(1.0)
