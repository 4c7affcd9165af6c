"""TorchServe handler for ai-detector: a thin wrapper over :class:`ai_detector.Predictor`.

All decoding, validation and inference logic lives in the ``ai_detector`` package,
so it is tested and reused without TorchServe; this class only adapts TorchServe's
request list and per-request status codes. Packaged into the .mar by
``python -m ai_detector.pipeline.package``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ts.context import Context
from ts.torch_handler.base_handler import BaseHandler

from ai_detector.inference.predictor import THREADS_ENV, Predictor
from ai_detector.serving.answers import answer_batch
from ai_detector.serving.requests import request_content_type

log = logging.getLogger(__name__)


class AIDetectorHandler(BaseHandler):
    """Classify a batch of images; each request gets its own 200, 4xx or 500 JSON answer."""

    def initialize(self, context: Context) -> None:
        model_dir = context.system_properties["model_dir"]
        # Threads per worker from model-config.yaml, beside the worker count they must fit
        # (workers x threads = cores); $AI_DETECTOR_THREADS, read by the Predictor, wins.
        configured = (context.model_yaml_config or {}).get("handler", {}).get("threads")
        threads = None if os.environ.get(THREADS_ENV) else configured
        self.predictor = Predictor(model_dir, threads=threads)
        self.context = context
        self.initialized = True

    def handle(self, data: list[dict[str, Any]], context: Context) -> list[dict[str, Any]]:
        if context.get_request_header(0, "describe") == "True":
            # GET /models/ai-detector?customized=true: which candidate runs on this CPU.
            return [self.predictor.describe()]
        # The Content-Type tells a form-decoded body (curl -d) from a raw one.
        content_types = [
            request_content_type(context.get_all_request_header(i)) for i in range(len(data))
        ]
        # /explanations/ai-detector marks its requests; a batch may mix both kinds.
        explain = [context.get_request_header(i, "explain") == "True" for i in range(len(data))]
        answers = answer_batch(self.predictor, data, content_types, explain)
        for index, answer in enumerate(answers):
            context.set_response_content_type(index, "application/json")
            if answer.status != 200:
                context.set_response_status(answer.status, answer.phrase, index)
        return [answer.body for answer in answers]
