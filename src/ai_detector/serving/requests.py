"""Request parsing and batch answering for the TorchServe handler, kept out of TorchServe.

TorchServe hands a handler one dict per request: the raw body under ``body``,
multipart fields under their names (``data``, ``file``...), and a JSON body already
parsed. :func:`extract_image` finds the image bytes in any of these;
:func:`answer_batch` classifies a whole batch in one model call and gives each
request its own status, so one bad image never fails its batch neighbours: an
input error becomes that request's 4xx, and anything unexpected (a bug, a decoder
crash) that request's 500, never the batch's.

``POST /explanations/ai-detector`` reaches the same handler, each such request marked
with the header ``explain: True`` (one batch can hold both kinds): those requests take
the same path, answered by :mod:`ai_detector.inference.explain` (the verdict plus its
heatmap), with the same isolation; a model without explanation outputs answers 501.

    curl -X POST http://127.0.0.1:8080/explanations/ai-detector -T photo.jpg

A body sent as ``application/x-www-form-urlencoded`` (what ``curl -d`` and
``--data-binary`` send unless told otherwise) reaches the handler already run
through Netty's form decoder: split at ``=`` and ``&``, ``+`` turned into spaces,
``%XX`` decoded, text decoded as UTF-8. Image bytes do not survive that (measured
on TorchServe 0.12.0), so such a request gets a 415 that says what to send; a
text body (JSON or base64) is put back together and accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ai_detector.inference.errors import (
    EmptyInputError,
    FormEncodedBodyError,
    InputError,
    NotAnImageError,
)
from ai_detector.inference.explain import explain_bytes
from ai_detector.inference.predictor import Predictor

log = logging.getLogger(__name__)

# Where clients put the image: multipart field names and JSON keys, in order of preference.
IMAGE_FIELDS = ("data", "file", "image", "body", "b64", "image_base64")
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
SEND_RAW_HINT = (
    "send the image bytes with Content-Type: application/octet-stream "
    "(curl -T photo.jpg, or --data-binary @photo.jpg -H 'Content-Type: application/octet-stream'), "
    "or as multipart form data (curl -F data=@photo.jpg)"
)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def _decode_base64(text: str, plus_as_space: bool = False) -> bytes:
    if text.startswith("data:"):
        # data URI: "data:image/png;base64,...."
        text = text.partition(",")[2]
    if plus_as_space:
        # The form decoder turned base64's '+' into spaces; base64 has no spaces of its own.
        text = text.replace(" ", "+")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError("the JSON body must hold the image as a base64 string") from exc


def _parse_json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InputError("the JSON body is nested too deeply") from exc


def _from_json(payload: Any, plus_as_space: bool = False) -> bytes:
    if isinstance(payload, dict):
        for key in IMAGE_FIELDS:
            value = payload.get(key)
            if isinstance(value, str) and value:
                return _decode_base64(value, plus_as_space)
        raise InputError(
            f"the JSON body needs a base64 image under one of the keys {', '.join(IMAGE_FIELDS)}"
        )
    raise InputError("the JSON body must be an object holding a base64 image")


def _from_form(request: dict[str, Any]) -> bytes:
    """Put a form-decoded text body back together; only JSON or base64 survives the trip."""
    parts = []
    for name, value in request.items():
        text = value.decode("utf-8", "replace") if isinstance(value, (bytes, bytearray)) else value
        parts.append(f"{name}={text}" if isinstance(text, str) else name)
    # No strip(): a leading or trailing space may be a base64 '+'.
    body = "&".join(parts)
    try:
        if body.lstrip().startswith("{"):
            return _from_json(_parse_json(body), plus_as_space=True)
        if body:
            return _decode_base64(body, plus_as_space=True)
    except InputError:
        pass
    raise FormEncodedBodyError(
        f"the body was sent as {FORM_CONTENT_TYPE} (curl's default for -d and --data-binary), "
        f"which the server's form decoder mangles: {SEND_RAW_HINT}"
    )


def is_form_encoded(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE


def request_content_type(headers: Mapping[str, Any]) -> str | None:
    """The Content-Type request header among TorchServe's per-request properties
    (they also hold one dict per form field, hence the type check)."""
    for key, value in headers.items():
        if key.lower() == "content-type" and isinstance(value, str):
            return value
    return None


def extract_image(request: dict[str, Any], content_type: str | None = None) -> bytes:
    """The image bytes of one TorchServe request, or an :class:`InputError`."""
    if is_form_encoded(content_type):
        return _from_form(request)
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
        # A text body or text file: JSON sent without its content type, bare base64, or no image.
        stripped = value.strip()
        if stripped.startswith("{"):
            return _from_json(_parse_json(stripped))
        try:
            return _decode_base64(stripped)
        except InputError as exc:
            raise NotAnImageError("the data is text, neither an image nor base64") from exc
    data = bytes(value)
    if data[:1] == b"{":
        # No image format starts with '{': this is JSON, perhaps sent as octet-stream,
        # or JSON that TorchServe's worker could not parse.
        return _from_json(_parse_json(data))
    return data


def _rejected(index: int, error: InputError) -> Answer:
    log.info("rejected request %d: %s (%s)", index, error.code, error.message)
    return Answer(error.status, error.to_dict())


# Our fault, not the client's: no detail leaks, the traceback goes to the log.
INTERNAL_ERROR = Answer(
    500, {"code": 500, "type": "internal_error", "message": "the server failed on this request"}
)


class Result(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


# How a batch of image bytes is answered: a verdict, or a verdict with its heatmap.
Run = Callable[[Predictor, list[bytes]], Sequence[Result | InputError]]
RUNS: dict[bool, Run] = {
    False: lambda predictor, images: predictor.predict_bytes(images),
    True: explain_bytes,
}


def _classify(predictor: Predictor, run: Run, images: dict[int, bytes]) -> dict[int, Answer]:
    """Run a batch in one model call; if that call fails, run it one by one, so only the
    request that makes it fail gets the 500."""
    indices = list(images)
    try:
        results = run(predictor, [images[i] for i in indices])
    except InputError as error:  # the batch's own fault (a model without maps): all of it
        return {index: _rejected(index, error) for index in indices}
    except Exception:  # one request must not fail its neighbours, whatever went wrong
        if len(indices) == 1:
            log.exception("request %d failed", indices[0])
            return {indices[0]: INTERNAL_ERROR}
        log.warning("a batch of %d failed; answering its requests one by one", len(indices))
        answers: dict[int, Answer] = {}
        for index in indices:
            answers.update(_classify(predictor, run, {index: images[index]}))
        return answers
    return {
        index: _rejected(index, result)
        if isinstance(result, InputError)
        else Answer(200, result.to_dict())
        for index, result in zip(indices, results, strict=True)
    }


def answer_batch(
    predictor: Predictor,
    requests: list[dict[str, Any]],
    content_types: Sequence[str | None] | None = None,
    explain: Sequence[bool] | None = None,
) -> list[Answer]:
    """One answer per request: 200 with a verdict (and its heatmap where ``explain`` says
    so), the 4xx of its input error, or a 500. Predictions and explanations each take
    one model call, and neither kind of failure reaches a request of the other."""
    types = list(content_types) if content_types is not None else [None] * len(requests)
    wants = list(explain) if explain is not None else [False] * len(requests)
    answers: dict[int, Answer] = {}
    images: dict[bool, dict[int, bytes]] = {False: {}, True: {}}
    for index, request in enumerate(requests):
        try:
            images[wants[index]][index] = extract_image(request, types[index])
        except InputError as error:
            answers[index] = _rejected(index, error)
        except Exception:  # e.g. a parser bug: this request's 500, not the batch's 503
            log.exception("request %d could not be read", index)
            answers[index] = INTERNAL_ERROR
    for explaining, group in images.items():
        if group:
            answers.update(_classify(predictor, RUNS[explaining], group))
    return [answers[index] for index in range(len(requests))]
