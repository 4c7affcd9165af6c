"""Docker HEALTHCHECK and Kubernetes readiness for the TorchServe image: exit 0 when a
worker of the model can answer.

    python /usr/local/bin/healthcheck.py [PING_URL [MODEL_URL]]
    # defaults: http://127.0.0.1:8080/ping and http://127.0.0.1:8081/models/ai-detector

TorchServe's /ping alone is not enough: measured on 0.12.0, it answered 200 "Healthy"
with no worker at all (scaled to 0, or both dead and restarting) while every
prediction got a 503. So this also asks the management API (on the container's
loopback) for the model's workers and wants at least one READY. The image runs with
token auth on, so both calls send keys: $AI_DETECTOR_TOKEN (inference) and
$AI_DETECTOR_MANAGEMENT_TOKEN when set, else the keys in the key_file.json TorchServe
writes into its working directory (the image's WORKDIR, where this check runs).
Standard library and the installed package only, so the image needs no curl.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from ai_detector.contract import MODEL_NAME, TOKEN_ENV

KEY_FILE = Path("key_file.json")
MANAGEMENT_TOKEN_ENV = "AI_DETECTOR_MANAGEMENT_TOKEN"
PING_URL = "http://127.0.0.1:8080/ping"
MODEL_URL = f"http://127.0.0.1:8081/models/{MODEL_NAME}"


def _get(url: str, key: str | None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    with urllib.request.urlopen(request, timeout=4) as response:
        return response.status, response.read()


def ready_workers(body: bytes) -> int:
    """How many workers of the described model are READY."""
    models = json.loads(body)
    return sum(w.get("status") == "READY" for m in models for w in m.get("workers", []))


def keys() -> tuple[str | None, str | None]:
    """(inference, management) keys: the environment's, else the key file's, else None."""
    try:
        stored = json.loads(KEY_FILE.read_text())
    except (FileNotFoundError, ValueError):
        # Not written yet, or half written while TorchServe starts: no keys, so the
        # server answers 401 and this check says unhealthy until the next try.
        stored = {}
    return (
        os.environ.get(TOKEN_ENV) or stored.get("inference", {}).get("key"),
        os.environ.get(MANAGEMENT_TOKEN_ENV) or stored.get("management", {}).get("key"),
    )


def main(argv: list[str]) -> int:
    ping_url = argv[1] if len(argv) > 1 else PING_URL
    model_url = argv[2] if len(argv) > 2 else MODEL_URL
    inference_key, management_key = keys()
    try:
        status, _ = _get(ping_url, inference_key)
        if status != 200:
            sys.stderr.write(f"unhealthy: /ping answered {status}\n")
            return 1
        _, body = _get(model_url, management_key)
    except (OSError, urllib.error.URLError) as error:
        sys.stderr.write(f"unhealthy: {error}\n")
        return 1
    if ready_workers(body) == 0:
        sys.stderr.write("unhealthy: no worker of the model is READY\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
