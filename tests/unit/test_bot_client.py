"""Parsing the prediction service's answers (no network; see integration/test_bot.py)."""

from __future__ import annotations

import json

import pytest

from ai_detector.apps.bot.client import BadServiceResponse, _rejection, parse_prediction
from ai_detector.inference.prediction import Prediction

ANSWER = {
    "label": "Deepfake",
    "confidence": 0.81,
    "probabilities": {"Real": 0.1, "AI-generated": 0.09, "Deepfake": 0.81},
    "model_version": "v3",
}


def test_contract_answer_is_parsed() -> None:
    prediction = parse_prediction(ANSWER)
    assert prediction == Prediction("Deepfake", 0.81, ANSWER["probabilities"], "v3")
    assert parse_prediction([ANSWER]) == prediction  # TorchServe batch wrapping
    provenance = {"source": "c2pa", "claims": "camera", "signed": True, "valid": True}
    assert parse_prediction({**ANSWER, "provenance": provenance}).provenance == provenance
    assert parse_prediction({**ANSWER, "provenance": "junk"}).provenance is None


def test_optional_fields_may_be_missing_and_confidence_is_clamped() -> None:
    prediction = parse_prediction({"label": "Real", "confidence": 1.0000001})
    assert prediction.confidence == 1.0
    assert prediction.probabilities == {} and prediction.model_version == ""


@pytest.mark.parametrize(
    "payload",
    [{"confidence": 0.5}, {"label": "Real"}, {"label": "Real", "confidence": True}, "Real", []],
)
def test_answers_outside_the_contract_are_refused(payload: object) -> None:
    with pytest.raises(BadServiceResponse):
        parse_prediction(payload)


def test_rejections_carry_the_service_error_type() -> None:
    body = json.dumps({"code": 415, "type": "not_an_image", "message": "not an image"})
    error = _rejection(415, body, "application/json")
    assert (error.status, error.code, error.message) == (415, "not_an_image", "not an image")
    assert _rejection(413, "Request Entity Too Large", "text/plain").code == "image_too_large"
    assert _rejection(400, "<html>nope</html>", "text/html").code == "bad_input"
