"""``POST /explanations/ai-detector``: the verdict plus its heatmap, for the TorchServe handler.

TorchServe routes ``/explanations/{model}`` to the same handler as ``/predictions``, marking
each such request with the header ``explain: True``; one batch can hold both kinds.
:func:`answer_requests` answers each request of a batch as it asked: predictions through
:func:`ai_detector.serving.requests.answer_batch`, explanations through
:mod:`ai_detector.inference.explain`
(one model call for all of them). Images are found in a request exactly as for predictions,
and bad input gets the same 4xx JSON; a model without explanation outputs answers 501.

    curl -X POST http://127.0.0.1:8080/explanations/ai-detector -T photo.jpg
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ai_detector.inference.errors import InputError
from ai_detector.inference.explain import Explanation, explain_bytes
from ai_detector.inference.predictor import Predictor
from ai_detector.serving.requests import Answer, answer_batch, extract_image

log = logging.getLogger(__name__)


def answer_explanations(
    predictor: Predictor,
    requests: Sequence[dict[str, Any]],
    content_types: Sequence[str | None] | None = None,
) -> list[Answer]:
    """One answer per request: 200 with the verdict and ``explanation``, or a 4xx/501."""
    results: dict[int, Explanation | InputError] = {}
    images: dict[int, bytes] = {}
    types = list(content_types) if content_types is not None else [None] * len(requests)
    for index, request in enumerate(requests):
        try:
            images[index] = extract_image(request, types[index])
        except InputError as error:
            results[index] = error
    explained: list[Explanation | InputError]
    try:
        explained = explain_bytes(predictor, list(images.values()))
    except InputError as error:  # the model has no maps: every request gets the reason
        explained = [error] * len(images)
    results.update(zip(images, explained, strict=True))
    answers = []
    for index in range(len(requests)):
        result = results[index]
        if isinstance(result, InputError):
            log.info("explanation %d refused: %s (%s)", index, result.code, result.message)
            answers.append(Answer(result.status, result.to_dict()))
        else:
            answers.append(Answer(200, result.to_dict()))
    return answers


def answer_requests(
    predictor: Predictor,
    requests: list[dict[str, Any]],
    explain: Sequence[bool],
    content_types: Sequence[str | None] | None = None,
) -> list[Answer]:
    """Answers in request order, each request predicted or explained as ``explain`` says."""
    types = list(content_types) if content_types is not None else [None] * len(requests)
    if not any(explain):
        return answer_batch(predictor, requests, types)
    wanted = [i for i, flag in enumerate(explain) if flag]
    plain = [i for i, flag in enumerate(explain) if not flag]
    explained = answer_explanations(
        predictor, [requests[i] for i in wanted], [types[i] for i in wanted]
    )
    answers: dict[int, Answer] = dict(zip(wanted, explained, strict=True))
    if plain:
        predicted = answer_batch(predictor, [requests[i] for i in plain], [types[i] for i in plain])
        answers.update(zip(plain, predicted, strict=True))
    return [answers[i] for i in range(len(requests))]
