"""POST /explanations/ai-detector through a real TorchServe: overlay, grid, errors."""

from __future__ import annotations

import base64
import io
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests
from PIL import Image

from tests.conftest import encode_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def explain_url(server) -> str:
    return f"{server.inference_url}/explanations/{server.model_name}"


def red_patch(size=(400, 300), box=(150, 40, 330, 220)) -> bytes:
    image = Image.new("RGB", size, (128, 128, 128))
    image.paste((250, 40, 40), box)
    return encode_image(image, "PNG")


def test_curl_put_as_documented_returns_verdict_overlay_and_grid(cam_server, tmp_path):
    server, _ = cam_server
    photo = tmp_path / "photo.png"
    photo.write_bytes(red_patch())
    done = subprocess.run(
        ["curl", "-s", "-T", str(photo), explain_url(server)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    body = json.loads(done.stdout)
    assert body["label"] == "AI-generated" and body["model_version"] == "tiny-test-1"
    explanation = body["explanation"]
    assert explanation["target"] == "AI-generated" and explanation["against"] == "Real"
    peak = explanation["peak"]
    assert 150 <= peak["x"] * 400 <= 330 and 40 <= peak["y"] * 300 <= 220
    assert np.array(explanation["grid"]).shape == (7, 7)
    overlay = Image.open(io.BytesIO(base64.b64decode(explanation["overlay_png"])))
    assert overlay.format == "PNG" and overlay.size == (400, 300)
    # Away from the patch (no evidence there) the overlay keeps the image's own grey.
    pixels = np.asarray(overlay.convert("RGB"), np.int16)
    assert np.abs(pixels[230:, :140] - 128).max() <= 3


def test_explanation_verdict_equals_prediction(cam_server):
    server, _ = cam_server
    data = red_patch(box=(100, 100, 200, 200))
    explained = requests.post(explain_url(server), data=data, timeout=30).json()
    predicted = requests.post(server.predict_url, data=data, timeout=30).json()
    explained.pop("explanation")
    assert explained == predicted


@pytest.mark.parametrize(
    ("payload", "status", "kind"),
    [
        (b"%PDF-1.4\n%fake pdf\n", 415, "not_an_image"),
        (b"", 400, "empty_input"),
        (b"\x89PNG\r\n\x1a\n broken", None, None),
    ],
)
def test_bad_input_gets_the_same_json_as_predictions(cam_server, payload, status, kind):
    server, _ = cam_server
    explained = requests.post(explain_url(server), data=payload, timeout=30)
    predicted = requests.post(server.predict_url, data=payload, timeout=30)
    assert explained.status_code == predicted.status_code >= 400
    assert explained.json() == predicted.json()
    if status:
        assert (explained.status_code, explained.json()["type"]) == (status, kind)


def test_concurrent_explanations_and_predictions_keep_their_own_answers(cam_server):
    server, _ = cam_server
    data = red_patch()

    def call(index: int) -> tuple[int, dict]:
        url = explain_url(server) if index % 2 else server.predict_url
        response = requests.post(url, data=data, timeout=60)
        return index, response.json()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(16)))
    for index, body in results:
        assert body["label"] == "AI-generated"
        assert ("explanation" in body) == bool(index % 2)


def test_a_model_without_maps_answers_501_with_the_reason(tiny_server, make_image):
    url = f"{tiny_server.inference_url}/explanations/{tiny_server.model_name}"
    response = requests.post(url, data=make_image(), timeout=30)
    assert response.status_code == 501
    assert response.json()["type"] == "no_explanation"
    assert "no explanation outputs" in response.json()["message"]


def test_cors_allows_the_demo_origin_only(cam_server):
    server, origin = cam_server
    headers = {"Origin": origin, "Content-Type": "application/octet-stream"}
    allowed = requests.post(explain_url(server), data=red_patch(), headers=headers, timeout=30)
    assert allowed.headers.get("Access-Control-Allow-Origin") == origin
    other = requests.post(
        explain_url(server),
        data=red_patch(),
        headers={**headers, "Origin": "http://evil.example"},
        timeout=30,
    )
    assert other.headers.get("Access-Control-Allow-Origin") in (None, origin)
    assert other.headers.get("Access-Control-Allow-Origin") != "*"
