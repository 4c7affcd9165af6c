"""Serving glue: the TorchServe handler, request parsing and the TorchServe process control.

``handler.py``, ``model-config.yaml`` and ``log4j2.xml`` ship here as package data and go into
the model archive; the logic they call lives in :mod:`ai_detector.inference`.
"""

# The model's name in TorchServe (`/predictions/ai-detector`, `ai-detector.mar`): the one
# place it is set; the archive, the server, the bot and the load test read it from here.
MODEL_NAME = "ai-detector"
