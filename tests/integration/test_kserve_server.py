"""KServe's v1 protocol against a real TorchServe run on deploy/kserve/config.properties.

The config is the one KServe mounts (the model registered by its model_snapshot, not
load_models), moved to free loopback ports, with model_store pointed at
a temporary store holding the tiny model's archive. Requests are sent as KServe clients
send them: ``POST /v1/models/ai-detector:predict`` (and ``:explain``) with
``{"instances": [{"data": "<base64 image>"}]}``, answered ``{"predictions": [...]}``.

TorchServe's own kserve envelope (service_envelope=kserve) failed here in three ways: two
or more instances got 503, one bad instance failed all of them, and requests batched
together got 503 (it answers only the first of a batch); our handler now reads KServe v1
itself (ai_detector.serving.answers), and these tests hold what it answers.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from harness.servers import archive, local_torchserve

from ai_detector.contract import MODEL_NAME, read_properties
from ai_detector.inference.explain import explain_bytes
from ai_detector.inference.predictor import Predictor
from ai_detector.serving.torchserve import Server
from tests.conftest import write_tiny_onnx_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KSERVE_CONFIG = ROOT / "deploy" / "kserve" / "config.properties"
SNAPSHOT = json.loads(read_properties(KSERVE_CONFIG)["model_snapshot"])

# Instances a client may send by mistake, each with the error our handler gives it alone.
HOSTILE: dict[str, tuple[Any, int, str]] = {
    "not base64": ({"data": "not base64!!"}, 415, "not_an_image"),
    "text, not an image": (
        {"data": base64.b64encode(b"hello, this is text, not an image").decode()},
        415,
        "not_an_image",
    ),
    "nested object": ({"data": {"image": {"data": "AAAA"}}}, 400, "bad_input"),
    # KServe v1 lets an instance be a bare value: a string is read as base64.
    "bare string, not an image": ("AAAA", 415, "not_an_image"),
    "bare number": (5, 400, "bad_input"),
}
# Bodies that are not KServe v1 requests at all, and the client error each gets.
NOT_KSERVE: dict[str, tuple[dict[str, Any], int]] = {
    # TorchServe forwards a body that fails to parse as JSON as it came: not an image.
    "not JSON": ({"data": b"garbage", "headers": {"Content-Type": "application/json"}}, 415),
    "no instances": ({"json": {"inputs": []}}, 400),
    "empty instances": ({"json": {"instances": []}}, 400),
    "instances not a list": ({"json": {"instances": {"data": "AAAA"}}}, 400),
    # curl -d without -H 'Content-Type: application/json': a form-encoded body.
    "form-encoded": (
        {
            "data": json.dumps({"instances": [{"data": "AAAA"}]}),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        415,
    ),
}


@pytest.fixture(scope="module")
def kserve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """TorchServe on the KServe config, serving a tiny model with explanation outputs."""
    from ai_detector.pipeline.cam_graph import add_cam_outputs_file

    work = tmp_path_factory.mktemp("torchserve-kserve")
    model_dir = work / "model"
    write_tiny_onnx_model(model_dir)
    add_cam_outputs_file(model_dir / "model.onnx")
    store = archive(model_dir, work / "store")
    # start() also passes --models, but a model_snapshot wins over it (checked below).
    with local_torchserve(
        store, work, {"model_store": str(store)}, timeout=180, base=KSERVE_CONFIG
    ) as server:
        yield server, model_dir


@pytest.fixture(scope="module")
def predictor(kserve: tuple[Server, Path]) -> Predictor:
    return Predictor(kserve[1])


def post(server: Server, verb: str, **body: Any) -> requests.Response:
    url = f"{server.inference_url}/v1/models/{MODEL_NAME}:{verb}"
    return requests.post(url, timeout=30, **body)


def instances(*images: bytes) -> dict[str, Any]:
    return {"instances": [{"data": base64.b64encode(image).decode()} for image in images]}


def check_still_serving(server: Server, image: bytes, predictor: Predictor) -> None:
    response = post(server, "predict", json=instances(image))
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [predictor.predict_one(image).to_dict()]}


def test_the_model_snapshot_registers_the_model(kserve):
    server, _ = kserve
    (model,) = requests.get(f"{server.management_url}/models/{MODEL_NAME}", timeout=10).json()
    settings = SNAPSHOT["models"][MODEL_NAME][model["modelVersion"]]
    assert model["batchSize"] == settings["batchSize"]
    assert model["minWorkers"] == settings["minWorkers"] == len(model["workers"])


def test_one_instance_gets_the_in_process_verdict(kserve, predictor, make_image):
    server, _ = kserve
    red = make_image("PNG", size=(64, 48), tint="red")
    response = post(server, "predict", json=instances(red))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"predictions": [predictor.predict_one(red).to_dict()]}
    assert response.json()["predictions"][0]["label"] == "AI-generated"


def test_an_instance_may_be_a_bare_base64_string(kserve, predictor, make_image):
    server, _ = kserve
    red = make_image("PNG", size=(64, 48), tint="red")
    response = post(server, "predict", json={"instances": [base64.b64encode(red).decode()]})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [predictor.predict_one(red).to_dict()]}


def test_each_instance_gets_its_own_verdict(kserve, predictor, make_image):
    server, _ = kserve
    red, plain = make_image("PNG", size=(64, 48), tint="red"), make_image(seed=1)
    response = post(server, "predict", json=instances(red, plain))
    assert response.status_code == 200, response.text
    expected = [predictor.predict_one(image).to_dict() for image in (red, plain)]
    assert response.json() == {"predictions": expected}
    assert expected[0]["label"] == "AI-generated"


def test_concurrent_requests_each_get_their_answer(kserve, predictor, make_image):
    """Requests TorchServe batches together (the snapshot's batchSize 4): each gets its own
    answer (TorchServe's kserve envelope answered only the first of a batch)."""
    server, _ = kserve
    images = [make_image("PNG", size=(48, 48), seed=i, tint="red") for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(lambda image: post(server, "predict", json=instances(image)), images)
        )
    for image, response in zip(images, responses, strict=True):
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": [predictor.predict_one(image).to_dict()]}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_instance_alone_gets_its_client_error(kserve, predictor, make_image, name):
    server, _ = kserve
    instance, status, kind = HOSTILE[name]
    response = post(server, "predict", json={"instances": [instance]})
    check_still_serving(server, make_image(), predictor)
    assert response.status_code == status, response.text
    (error,) = response.json()["predictions"]
    assert (error["code"], error["type"]) == (status, kind)
    assert error["message"]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_instance_does_not_fail_its_neighbours(kserve, predictor, make_image, name):
    server, _ = kserve
    instance, status, kind = HOSTILE[name]
    red, plain = make_image("PNG", size=(64, 48), tint="red"), make_image(seed=1)
    good = instances(red, plain)["instances"]
    response = post(server, "predict", json={"instances": [good[0], instance, good[1]]})
    check_still_serving(server, red, predictor)
    assert response.status_code == 200, response.text
    first, error, last = response.json()["predictions"]
    assert [first, last] == [predictor.predict_one(image).to_dict() for image in (red, plain)]
    assert (error["code"], error["type"]) == (status, kind)


@pytest.mark.parametrize("name", list(NOT_KSERVE))
def test_a_body_that_is_not_a_kserve_request_is_a_client_error(kserve, predictor, make_image, name):
    server, _ = kserve
    body, status = NOT_KSERVE[name]
    response = post(server, "predict", **body)
    check_still_serving(server, make_image(), predictor)
    assert response.status_code == status, response.text
    assert response.json()["message"]
    assert 400 <= response.status_code < 500, response.text


def test_kserve_v1_readiness_is_not_served_by_torchserve(kserve):
    """TorchServe's frontend answers :predict and :explain only; KServe's model readiness
    (GET /v1/models/<name>) is a 404. /ping and the pod's probes tell readiness instead."""
    server, _ = kserve
    response = requests.get(f"{server.inference_url}/v1/models/{MODEL_NAME}", timeout=10)
    assert response.status_code == 404
    assert response.json()["type"] == "ResourceNotFoundException"
    ping = requests.get(f"{server.inference_url}/ping", timeout=10)
    assert (ping.status_code, ping.json()) == (200, {"status": "Healthy"})


def test_explain_gets_the_in_process_explanation(kserve, predictor, make_image):
    server, _ = kserve
    red = make_image("PNG", size=(64, 48), tint="red")
    response = post(server, "explain", json=instances(red))
    assert response.status_code == 200, response.text
    (found,) = explain_bytes(predictor, [red])
    assert not isinstance(found, Exception)
    assert response.json() == {"explanations": [found.to_dict()]}
    explanation = response.json()["explanations"][0]
    assert explanation["label"] == "AI-generated"
    assert explanation["explanation"]["target"] == "AI-generated"


def readme_kserve_block() -> str:
    """The bash block of the README's "Kubernetes with KServe" section."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Kubernetes with KServe") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the README's KServe section lost its commands"
    return block.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_the_readme_request_works_as_written(kserve, predictor, make_image, tmp_path):
    """The README's request lines (from printf on: the lines before need a cluster), run
    by bash with only ``http://<host>`` changed to this server's address."""
    server, _ = kserve
    block = readme_kserve_block()
    request = block[block.index("printf") :].replace("http://<host>", server.inference_url)
    photo = make_image("JPEG", size=(640, 480), tint="red")
    (tmp_path / "photo.jpg").write_bytes(photo)
    done = subprocess.run(
        ["bash", "-c", request],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"predictions": [predictor.predict_one(photo).to_dict()]}
