"""Request parsing for the TorchServe handler: where the image is in a request.

TorchServe hands a handler one dict per request: the raw body under ``body``,
multipart fields under their names (``data``, ``file``...), and a JSON body already
parsed. :func:`extract_image` finds the image bytes in any of these, and
:func:`kserve_instances` the images of a KServe v1 body (``{"instances": [...]}``);
:mod:`ai_detector.serving.answers` turns a batch of requests into answers.

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
from collections.abc import Mapping
from typing import Any

from ai_detector.inference.errors import (
    EmptyInputError,
    FormEncodedBodyError,
    InputError,
    NotAnImageError,
)

log = logging.getLogger(__name__)

# Where clients put the image: multipart field names and JSON keys, in order of preference.
IMAGE_FIELDS = ("data", "file", "image", "body", "b64", "image_base64")
# KServe's v1 protocol: {"instances": [{"data": "<base64>"}, ...]} (deploy/kserve/).
KSERVE_KEY = "instances"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
SEND_RAW_HINT = (
    "send the image bytes with Content-Type: application/octet-stream "
    "(curl -T photo.jpg, or --data-binary @photo.jpg -H 'Content-Type: application/octet-stream'), "
    "or as multipart form data (curl -F data=@photo.jpg)"
)


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
    if not isinstance(request, dict):
        raise InputError(
            "an image must come as the body, a base64 string, or an object holding one under 'data'"
        )
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


def kserve_instances(request: Any) -> list[Any] | None:
    """The instances of a KServe v1 body, ``{"instances": [...]}``, or None for a request
    of any other form. TorchServe answers ``POST /v1/models/<name>:predict`` itself and
    hands the body over as for ``/predictions``, parsed when it was sent as JSON."""
    body = request.get("body") if isinstance(request, dict) else None
    if isinstance(body, (bytes, bytearray)) and body[:1] == b"{":
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):
            return None  # not JSON after all: extract_image says why
    if not isinstance(body, dict) or KSERVE_KEY not in body:
        return None
    instances = body[KSERVE_KEY]
    if not isinstance(instances, list) or not instances:
        raise InputError(f'"{KSERVE_KEY}" must be a non-empty list of images')
    return instances
