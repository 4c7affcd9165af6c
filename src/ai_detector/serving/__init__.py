"""Serving glue: the TorchServe handler, request parsing and the TorchServe process control.

``handler.py``, ``model-config.yaml`` and ``log4j2.xml`` ship here as package data and go into
the model archive; the logic they call lives in :mod:`ai_detector.inference`.
"""
