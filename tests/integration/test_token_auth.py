"""Token auth as the Docker image runs it, on a real TorchServe bound to loopback.

The server starts from the one config.properties with the Dockerfile's own TS_*
variables (its addresses moved to free loopback ports), so this is the image's
configuration in every respect but the interface it binds. Requests without a key or
with a wrong one get 401; with TorchServe's key they get 200; the health check, the
bot's client and the load test's headers send the key.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from ai_detector.apps.bot.client import DetectorClient, ServiceUnavailable
from ai_detector.contract import MODEL_NAME, TOKEN_ENV, auth_headers
from ai_detector.serving.archive import build_archive
from ai_detector.serving.torchserve import KEY_FILE, Server, free_port, loopback_config, start, stop
from tests.conftest import TINY_LABELS, encode_image, textured_image, write_tiny_onnx_model
from tests.unit.test_docker_files import image_environment

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HEALTHCHECK = ROOT / "docker" / "healthcheck.py"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("token-auth")
    write_tiny_onnx_model(work / "model")
    build_archive(work / "model", work / "store")
    config = loopback_config(ROOT / "config.properties", work / "config.properties")
    env = {k: v for k, v in image_environment().items() if k.startswith("TS_")}
    # The image's addresses, on loopback: the config's own ports stay unused, so an answer
    # proves the TS_* variables were read.
    for name in ("TS_INFERENCE_ADDRESS", "TS_METRICS_ADDRESS"):
        assert env[name].startswith("http://0.0.0.0:")
        env[name] = f"http://127.0.0.1:{free_port()}"
    logs = work / "logs"
    server = start(config, work / "store", MODEL_NAME, logs, timeout=180, env=env)
    try:
        yield Server(env["TS_INFERENCE_ADDRESS"], server.management_url, "", MODEL_NAME, logs)
    finally:
        stop(logs)


def refused(answer: requests.Response) -> bool:
    """TorchServe 0.12.0's answer to a missing, wrong or expired key: a 400 (not 401)."""
    return answer.status_code == 400 and answer.json()["type"] == "InvalidKeyException"


def image() -> bytes:
    return encode_image(textured_image((64, 48), seed=5), "JPEG")


def test_the_server_answers_on_the_environments_address(secured):
    """Also proves start() found the management key: it waited on the model through it."""
    assert secured.key("inference") and secured.key("management")
    assert refused(requests.get(f"{secured.inference_url}/ping", timeout=10))


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_no_key_or_a_wrong_one_is_refused(secured, key):
    headers = auth_headers(key) if key else {}
    ping = requests.get(f"{secured.inference_url}/ping", headers=headers, timeout=10)
    answer = requests.post(secured.predict_url, data=image(), headers=headers, timeout=30)
    models = requests.get(f"{secured.management_url}/models", headers=headers, timeout=10)
    assert refused(ping) and refused(answer) and refused(models)


def test_the_inference_key_gets_an_answer(secured):
    headers = auth_headers(secured.key("inference"))
    ping = requests.get(f"{secured.inference_url}/ping", headers=headers, timeout=10)
    answer = requests.post(secured.predict_url, data=image(), headers=headers, timeout=30)
    assert ping.status_code == 200
    assert answer.status_code == 200 and answer.json()["label"] in TINY_LABELS
    # The management key is another one: it opens management, not inference.
    other = auth_headers(secured.key("management"))
    assert refused(requests.post(secured.predict_url, data=image(), headers=other, timeout=30))


def test_keys_last_as_long_as_the_image_says(secured):
    """TS_TOKEN_EXPIRATION_TIME_MIN is honoured (the default would be 60 minutes)."""
    minutes = int(image_environment()["TS_TOKEN_EXPIRATION_TIME_MIN"])
    stored = json.loads((secured.log_dir / KEY_FILE).read_text())
    expires = datetime.fromisoformat(stored["inference"]["expiration time"])
    assert expires - datetime.now(UTC) > timedelta(minutes=minutes - 10)


def run_healthcheck(secured: Server, cwd: Path, env: dict[str, str]) -> int:
    command = [
        sys.executable,
        str(HEALTHCHECK),
        f"{secured.inference_url}/ping",
        f"{secured.management_url}/models/{MODEL_NAME}",
    ]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AI_DETECTOR_")}
    done = subprocess.run(
        command, cwd=cwd, env={**clean, **env}, capture_output=True, timeout=30, check=False
    )
    return done.returncode


def test_the_healthcheck_sends_the_keys(secured, tmp_path):
    # In TorchServe's working directory (the image's WORKDIR): the key file's keys.
    assert run_healthcheck(secured, secured.log_dir, {}) == 0
    # Elsewhere, no key: refused, so unhealthy.
    assert run_healthcheck(secured, tmp_path, {}) == 1
    keys = {
        TOKEN_ENV: secured.key("inference") or "",
        "AI_DETECTOR_MANAGEMENT_TOKEN": secured.key("management") or "",
    }
    assert run_healthcheck(secured, tmp_path, keys) == 0
    # The environment's key is the one sent, even beside a key file.
    assert run_healthcheck(secured, secured.log_dir, {TOKEN_ENV: "wrong-key"}) == 1


def test_the_bot_client_sends_the_key(secured):
    async def classify(token: str | None) -> str:
        client = DetectorClient(secured.predict_url, retries=0, token=token)
        try:
            return (await client.predict(image())).label
        finally:
            await client.close()

    assert asyncio.run(classify(secured.key("inference"))) in TINY_LABELS
    # Without the key it is the service's fault, not an image the user must change.
    with pytest.raises(ServiceUnavailable, match=TOKEN_ENV):
        asyncio.run(classify(None))


def test_the_load_tests_headers_carry_the_environments_key(secured, monkeypatch):
    """locustfile.py and harness/loadgen.py add auth_headers() to every request."""
    monkeypatch.setenv(TOKEN_ENV, secured.key("inference") or "")
    answer = requests.post(secured.predict_url, data=image(), headers=auth_headers(), timeout=30)
    assert answer.status_code == 200
    monkeypatch.delenv(TOKEN_ENV)
    assert auth_headers() == {}
