"""End to end through a real TorchServe: every accepted input form and every bad input."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import yaml
from PIL import Image

from ai_detector.serving.torchserve import SERVE_DIR
from tests.conftest import encode_image, textured_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def check_verdict(response: requests.Response, label: str | None = None) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["label"] in body["probabilities"]
    assert 0.0 <= body["confidence"] <= 1.0
    assert sum(body["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert body["model_version"] == "tiny-test-1"
    if label:
        assert body["label"] == label
    return body


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF", "AVIF"])
def test_raw_body_in_every_format(tiny_server, make_image, fmt):
    response = requests.post(
        tiny_server.predict_url,
        data=make_image(fmt, tint="red" if fmt != "GIF" else "none"),
        timeout=30,
    )
    check_verdict(response, "AI-generated" if fmt != "GIF" else None)


@pytest.mark.parametrize("field", ["data", "file"])
def test_multipart_upload(tiny_server, make_image, field):
    files = {field: ("photo.png", make_image("PNG", tint="blue"), "image/png")}
    check_verdict(requests.post(tiny_server.predict_url, files=files, timeout=30), "Deepfake")


def test_base64_json_body(tiny_server, make_image):
    payload = {"data": base64.b64encode(make_image("JPEG")).decode()}
    check_verdict(requests.post(tiny_server.predict_url, json=payload, timeout=30), "Real")


def test_exif_orientation_reaches_the_model(tiny_server):
    image = Image.new("RGB", (600, 200), (128, 128, 128))
    image.paste((255, 0, 0), (0, 0, 200, 200))  # red square on the left third
    exif = Image.Exif()
    exif[0x0112] = 6
    # Upright it is a tall image whose centre crop is grey; unrotated, the crop would differ.
    upright = requests.post(
        tiny_server.predict_url, data=encode_image(image, "JPEG", exif=exif.tobytes()), timeout=30
    )
    turned = requests.post(
        tiny_server.predict_url,
        data=encode_image(image.rotate(-90, expand=True), "JPEG"),
        timeout=30,
    )
    assert check_verdict(upright)["probabilities"] == pytest.approx(
        check_verdict(turned)["probabilities"], abs=0.02
    )


def _bomb() -> bytes:
    return encode_image(Image.new("L", (8000, 6000)), "PNG")


def _truncated() -> bytes:
    data = encode_image(textured_image(), "JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("payload", "status", "kind"),
    [
        (b"", 400, "empty_input"),
        (b"just some text, not an image", 415, "not_an_image"),
        (_truncated(), 422, "corrupt_image"),
        (encode_image(textured_image((12, 12)), "PNG"), 422, "image_too_small"),
        (_bomb(), 413, "image_too_large"),
    ],
    ids=["empty", "text", "truncated", "too-small", "decompression-bomb"],
)
def test_bad_input_gets_a_4xx_json_error(tiny_server, payload, status, kind):
    response = requests.post(tiny_server.predict_url, data=payload, timeout=30)
    assert response.status_code == status
    body = response.json()
    assert body["type"] == kind
    assert body["code"] == status
    assert body["message"]


def test_body_over_the_frontend_limit_is_413(tiny_server):
    oversize = b"\xff" * (26 * 1024 * 1024)  # config.properties: max_request_size 25 MiB
    assert requests.post(tiny_server.predict_url, data=oversize, timeout=60).status_code == 413


def test_body_over_the_handler_limit_is_a_json_413(tiny_server):
    big = b"\xff\xd8\xff" + b"\0" * (21 * 1024 * 1024)
    response = requests.post(tiny_server.predict_url, data=big, timeout=60)
    assert response.status_code == 413
    assert response.json()["type"] == "image_too_large"


def test_server_keeps_serving_after_bad_input(tiny_server, make_image):
    for payload in (b"", b"garbage", _truncated()):
        assert requests.post(tiny_server.predict_url, data=payload, timeout=30).status_code >= 400
    check_verdict(
        requests.post(tiny_server.predict_url, data=make_image(tint="red"), timeout=30),
        "AI-generated",
    )
    assert (
        requests.get(f"{tiny_server.inference_url}/ping", timeout=10).json()["status"] == "Healthy"
    )


def test_concurrent_requests_mixed_good_and_bad(tiny_server, make_image):
    payloads = [
        (
            make_image(seed=i, tint=("red", "blue", "none")[i % 3]),
            ("AI-generated", "Deepfake", "Real")[i % 3],
        )
        for i in range(12)
    ]
    payloads += [(b"nope", None)] * 4

    def post(item):
        data, label = item
        return requests.post(tiny_server.predict_url, data=data, timeout=60), label

    with ThreadPoolExecutor(max_workers=8) as pool:
        for response, label in pool.map(post, payloads):
            if label is None:
                assert response.status_code == 415
            else:
                check_verdict(response, label)


def test_batching_is_configured(tiny_server):
    """The worker and batching settings of serving/model-config.yaml reach the server."""
    wanted = yaml.safe_load((SERVE_DIR / "model-config.yaml").read_text())
    model = requests.get(f"{tiny_server.management_url}/models/ai-detector", timeout=10).json()[0]
    assert model["batchSize"] == wanted["batchSize"] > 1
    assert model["maxBatchDelay"] == wanted["maxBatchDelay"]
    assert len(model["workers"]) == wanted["minWorkers"]


def test_requests_are_logged_once_without_debug_lines(tiny_server, make_image):
    """serving/log4j2.xml is in effect: one access-log line per request, no DEBUG chatter."""
    access = tiny_server.log_dir / "access_log.log"
    before = access.read_text().count("/predictions/") if access.exists() else 0
    image = make_image("PNG")
    for _ in range(3):
        requests.post(tiny_server.predict_url, data=image, timeout=30).raise_for_status()
    # The frontend may write the line just after it answers: give it a moment, no more.
    deadline = time.monotonic() + 5
    while access.read_text().count("/predictions/") < before + 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert access.read_text().count("/predictions/") == before + 3
    assert "DEBUG" not in (tiny_server.log_dir / "ts_log.log").read_text()


def test_prometheus_metrics_count_requests_and_latency(tiny_server, make_image):
    requests.post(tiny_server.predict_url, data=make_image(), timeout=30)
    text = requests.get(f"{tiny_server.metrics_url}/metrics", timeout=10).text
    assert 'ts_inference_requests_total{model_name="ai-detector"' in text
    assert "ts_inference_latency_microseconds" in text


def test_the_describe_api_says_which_precision_runs(tiny_server):
    response = requests.get(
        f"{tiny_server.management_url}/models/ai-detector?customized=true", timeout=30
    )
    assert response.status_code == 200, response.text
    (model,) = response.json()
    described = model["customizedMetadata"]
    assert described["model_version"] == "tiny-test-1"
    assert described["precision"] == "fp32"
    assert isinstance(described["int8_exact_sums_forced"], bool)
