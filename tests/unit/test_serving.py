"""Finding the image in each request form TorchServe hands over, and per-request answers."""

from __future__ import annotations

import base64
import json

import pytest

from ai_detector.inference.errors import EmptyInputError, InputError
from ai_detector.inference.predictor import Predictor
from ai_detector.serving.answers import answer_batch
from ai_detector.serving.requests import extract_image

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


FORM = "application/x-www-form-urlencoded"


def form_fields(body: str) -> dict[str, bytearray]:
    """What TorchServe 0.12.0's frontend hands the handler for a form-encoded body
    (seen on a real server): split at the first '=' of each '&' part, '+' as space."""
    fields = {}
    for part in body.split("&"):
        name, _, value = part.partition("=")
        fields[name.replace("+", " ")] = bytearray(value.replace("+", " ").encode())
    return fields


def test_a_form_encoded_base64_or_json_body_is_put_back_together():
    plus = base64.b64encode(b"\xfb\xef\xbe" * 5 + b"\xff").decode()  # '+', '/' and '=' padding
    assert "+" in plus and plus.endswith("==")
    assert extract_image(form_fields(plus), FORM) == b"\xfb\xef\xbe" * 5 + b"\xff"
    as_json = json.dumps({"data": plus})
    assert extract_image(form_fields(as_json), f"{FORM}; charset=utf-8") == extract_image(
        {"body": as_json}
    )


@pytest.mark.parametrize(
    "fields",
    [{}, {"\ufffd\ufffd\ufffd\ufffd JFIF": bytearray(b"\x01"), "\x00\x10": bytearray(b"\x02")}],
    ids=["nothing-left", "image-bytes"],
)
def test_a_form_encoded_image_gets_a_415_that_says_what_to_send(fields):
    with pytest.raises(InputError) as caught:
        extract_image(fields, FORM)
    assert caught.value.status == 415
    assert caught.value.code == "unsupported_media_type"
    assert "Content-Type: application/octet-stream" in caught.value.message


@pytest.mark.parametrize(
    ("request_", "status", "code"),
    [
        ({"body": bytearray(b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}")}, 400, "bad_input"),
        ({"body": "{" + '"a":[' * 5000}, 400, "bad_input"),
        ({"body": bytearray(b"{broken")}, 400, "bad_input"),
        ({"data": "hello, a text file\n"}, 415, "not_an_image"),
    ],
    ids=["deeply-nested-json", "deeply-nested-text", "malformed-json", "text-file-field"],
)
def test_error_types(request_, status, code):
    with pytest.raises(InputError) as caught:
        extract_image(request_)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_a_deeply_nested_body_fails_alone_in_its_batch(tiny_model_dir, make_image):
    nested = bytearray(b'{"a":' + b"[" * 3000 + b"]" * 3000 + b"}")
    answers = answer_batch(
        Predictor(tiny_model_dir, threads=1),
        [{"body": make_image(tint="red")}, {"body": nested}, {"body": make_image()}],
    )
    assert [a.status for a in answers] == [200, 400, 200]
    assert answers[1].body["message"] == "the JSON body is nested too deeply"


class CrashError(Exception):
    pass


def test_an_unexpected_exception_is_that_request_s_500_alone(tiny_model_dir, make_image):
    """A bug reading one request (here: its preprocessing raising something that is no
    InputError) costs that request a 500; its batch neighbours still get verdicts."""
    predictor = Predictor(tiny_model_dir, threads=1)
    poison = make_image(tint="blue", seed=7)
    real_preprocess = predictor.preprocess

    def preprocess(data: bytes):
        if data == poison:
            raise CrashError("decoder bug")
        return real_preprocess(data)

    predictor.preprocess = preprocess  # type: ignore[method-assign]
    answers = answer_batch(
        predictor,
        [{"body": make_image(tint="red")}, {"body": poison}, {"body": b"text"}, {"body": 1j}],
    )
    assert [a.status for a in answers] == [200, 500, 415, 500]
    assert answers[0].body["label"] == "AI-generated"
    assert answers[1].body == {
        "code": 500,
        "type": "internal_error",
        "message": "the server failed on this request",
    }


def test_kserve_instances_join_the_batch_s_one_model_call(tiny_model_dir, make_image):
    """A KServe v1 request among plain ones: its instances are scored in the same model
    call as the rest of the batch, and come back together, in order, as its answer."""
    predictor = Predictor(tiny_model_dir, threads=1)
    calls: list[int] = []
    real = predictor.predict_bytes

    def counted(items):
        calls.append(len(items))
        return real(items)

    predictor.predict_bytes = counted  # type: ignore[method-assign]
    red, plain = make_image(tint="red"), make_image(seed=2)
    kserve = {"instances": [{"data": base64.b64encode(plain).decode()}, "not base64!!"]}
    kserve["instances"].append(base64.b64encode(red).decode())
    answers = answer_batch(predictor, [{"body": red}, {"body": kserve}])
    assert calls == [3]  # the plain request's image and the two good instances
    assert [a.status for a in answers] == [200, 200]
    first, bad, last = answers[1].body["predictions"]
    assert first == predictor.predict_one(plain).to_dict()
    assert last == answers[0].body == predictor.predict_one(red).to_dict()
    assert bad["type"] == "not_an_image"
