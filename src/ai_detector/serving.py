"""Request parsing and batch answering for the TorchServe handler, kept out of TorchServe.

TorchServe hands a handler one dict per request: the raw body under ``body``,
multipart fields under their names (``data``, ``file``...), and a JSON body already
parsed. :func:`extract_image` finds the image bytes in any of these;
:func:`answer_batch` classifies a whole batch in one model call and gives each
request its own status, so one bad image never fails its batch neighbours.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass
from typing import Any

from ai_detector.errors import EmptyInputError, InputError
from ai_detector.predictor import Predictor

log = logging.getLogger(__name__)

# Where clients put the image: multipart field names and JSON keys, in order of preference.
IMAGE_FIELDS = ("data", "file", "image", "body", "b64", "image_base64")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def _decode_base64(text: str) -> bytes:
    if text.startswith("data:"):
        # data URI: "data:image/png;base64,...."
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("the JSON body must hold the image as a base64 string") from exc


def _from_json(payload: Any) -> bytes:
    if isinstance(payload, dict):
        for key in IMAGE_FIELDS:
            value = payload.get(key)
            if isinstance(value, str) and value:
                return _decode_base64(value)
        raise InputError(
            f"the JSON body needs a base64 image under one of the keys {', '.join(IMAGE_FIELDS)}"
        )
    raise InputError("the JSON body must be an object holding a base64 image")


def extract_image(request: dict[str, Any]) -> bytes:
    """The image bytes of one TorchServe request, or an :class:`InputError`."""
    value: Any = None
    for key in IMAGE_FIELDS:
        if request.get(key) not in (None, b"", ""):
            value = request[key]
            break
    if value is None:
        raise EmptyInputError("the request has no image: send it as the body or a 'data' field")
    if isinstance(value, (dict, list)):
        return _from_json(value)
    if isinstance(value, str):
        # A text body: JSON sent without its content type, or bare base64.
        stripped = value.strip()
        if stripped.startswith("{"):
            try:
                return _from_json(json.loads(stripped))
            except json.JSONDecodeError as exc:
                raise InputError("the body is not valid JSON") from exc
        return _decode_base64(stripped)
    data = bytes(value)
    if data[:1] == b"{":
        # JSON sent as octet-stream: accept it rather than calling it "not an image".
        try:
            return _from_json(json.loads(data))
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
    return data


def answer_batch(predictor: Predictor, requests: list[dict[str, Any]]) -> list[Answer]:
    """One answer per request: 200 with a verdict, or the 4xx of its input error."""
    images: list[bytes] = []
    errors: dict[int, InputError] = {}
    for index, request in enumerate(requests):
        try:
            images.append(extract_image(request))
        except InputError as error:
            errors[index] = error
            images.append(b"")
    valid = [i for i in range(len(requests)) if i not in errors]
    results = predictor.predict_bytes([images[i] for i in valid])
    answers: list[Answer] = []
    by_index = dict(zip(valid, results, strict=True))
    for index in range(len(requests)):
        result = errors.get(index) or by_index[index]
        if isinstance(result, InputError):
            log.info("rejected request %d: %s (%s)", index, result.code, result.message)
            answers.append(Answer(result.status, result.to_dict()))
        else:
            answers.append(Answer(200, result.to_dict()))
    return answers
