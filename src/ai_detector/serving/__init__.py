"""Serving glue: the TorchServe handler, request parsing and the TorchServe process control.

``handler.py``, ``model-config.yaml`` and ``log4j2.xml`` ship here as package data and go into
the model archive; the logic they call lives in :mod:`ai_detector.inference`. This module
itself stays light (no TorchServe, no numpy): the REST clients (bot, load test, health
check) read the model's name and the key setting from here.
"""

from __future__ import annotations

import os

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
