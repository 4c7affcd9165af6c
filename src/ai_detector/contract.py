"""The REST contract between the server and its clients: the names both sides must agree on.

    from ai_detector.contract import MODEL_NAME, auth_headers, read_properties
    requests.post(f"{api}/predictions/{MODEL_NAME}", data=image, headers=auth_headers())

TorchServe's process control (:mod:`ai_detector.serving.torchserve`), the archive builder,
the bot, the demo page, the load test, the benchmark and the Docker health check all read
these from here, so the model's name, the key variable and the reading of
``config.properties`` are set once. The clients (``apps/``) import this module and never
``ai_detector.serving``: they talk to the server over REST, not through its code. It imports
nothing but the standard library, so a client pays nothing for it.
"""

from __future__ import annotations

import os
from pathlib import Path

# The model's name in TorchServe (`/predictions/ai-detector`, `ai-detector.mar`): the one
# place it is set; the archive, the server, the bot and the load test read it from here.
MODEL_NAME = "ai-detector"
# TorchServe's inference key, for clients of a server with token auth on (the Docker
# image): `docker exec ai-detector cat key_file.json` shows it.
TOKEN_ENV = "AI_DETECTOR_TOKEN"


def auth_headers(key: str | None = None) -> dict[str, str]:
    """``Authorization: Bearer <key>`` for ``key``, else $AI_DETECTOR_TOKEN, else nothing."""
    key = key or os.environ.get(TOKEN_ENV, "").strip()
    return {"Authorization": f"Bearer {key}"} if key else {}


def read_properties(path: Path) -> dict[str, str]:
    """TorchServe's ``config.properties`` (``key=value`` lines, ``#`` comments) as a dict.

    The server's addresses are in it, so a client that must find the server (the demo
    page, the load test) reads the same file the server was started with, rather than a
    copy of an address that could drift from it.
    """
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def write_properties(values: dict[str, str], path: Path) -> None:
    """The inverse of :func:`read_properties` (comments are not kept): for a test's or a
    benchmark's copy of the config with other ports or limits."""
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
