"""Serving glue: the TorchServe handler, request parsing, the archive builder and the
TorchServe process control.

``handler.py``, ``model-config.yaml`` and ``log4j2.xml`` ship here as package data and go into
the model archive; the logic they call lives in :mod:`ai_detector.inference`. This module
itself stays light (no TorchServe, no numpy): the names the server shares with its REST
clients (model name, key variable) live in :mod:`ai_detector.contract`.
"""
