"""Finding the image in each request form TorchServe hands over, and per-request answers."""

from __future__ import annotations

import base64
import json

import pytest

from ai_detector.errors import EmptyInputError, InputError
from ai_detector.predictor import Predictor
from ai_detector.serving import answer_batch, extract_image

IMAGE = b"\xff\xd8\xff\xe0 jpeg bytes"
B64 = base64.b64encode(IMAGE).decode()


@pytest.mark.parametrize(
    "request_",
    [
        {"body": IMAGE},
        {"body": bytearray(IMAGE)},
        {"data": IMAGE},
        {"file": IMAGE},
        {"body": {"data": B64}},
        {"body": {"image": "data:image/jpeg;base64," + B64}},
        {"body": json.dumps({"data": B64})},
        {"body": json.dumps({"data": B64}).encode()},
        {"body": B64},
    ],
)
def test_every_request_form_yields_the_image(request_):
    assert extract_image(request_) == IMAGE


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({}, "no image"),
        ({"body": b""}, "no image"),
        ({"body": {"url": "http://x"}}, "base64 image under one of the keys"),
        ({"body": {"data": "%%%not base64%%%"}}, "base64"),
        ({"body": [1, 2]}, "must be an object"),
        ({"body": "{broken json"}, "not valid JSON"),
    ],
)
def test_requests_without_a_usable_image_get_a_clear_error(request_, message):
    with pytest.raises(InputError, match=message):
        extract_image(request_)


def test_missing_body_is_an_empty_input_error():
    with pytest.raises(EmptyInputError):
        extract_image({"body": None})


def test_answer_batch_gives_each_request_its_status(tiny_model_dir, make_image):
    predictor = Predictor(tiny_model_dir, threads=1)
    answers = answer_batch(
        predictor,
        [
            {"body": make_image(tint="red")},
            {"body": b""},
            {"data": b"text"},
            {"body": {"data": base64.b64encode(make_image()).decode()}},
        ],
    )
    assert [a.status for a in answers] == [200, 400, 415, 200]
    assert answers[0].body["label"] == "AI-generated"
    assert answers[1].body == {
        "code": 400,
        "type": "empty_input",
        "message": answers[1].body["message"],
    }
    assert answers[2].body["type"] == "not_an_image"
    assert answers[3].body["label"] == "Real"
