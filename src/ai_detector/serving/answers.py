"""A batch of TorchServe requests in, one answer each out: verdicts, heatmaps or errors.

:func:`answer_batch` classifies a whole batch in one model call and gives each request
its own status, so one bad image never fails its batch neighbours: an input error becomes
that request's 4xx, and anything unexpected (a bug, a decoder crash) that request's 500,
never the batch's. Images are found by :mod:`ai_detector.serving.requests`.

``POST /explanations/ai-detector`` reaches the same handler, each such request marked
with the header ``explain: True`` (one batch can hold both kinds): those requests take
the same path, answered by :mod:`ai_detector.inference.explain` (the verdict plus its
heatmap), with the same isolation; a model without explanation outputs answers 501.
A KServe v1 request (``POST /v1/models/ai-detector:predict`` or ``:explain`` with
``{"instances": [...]}``) gets one answer holding each instance's, in order.

    curl -X POST http://127.0.0.1:8080/explanations/ai-detector -T photo.jpg
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ai_detector.inference.errors import InputError
from ai_detector.inference.explain import explain_bytes
from ai_detector.inference.predictor import Predictor
from ai_detector.serving.requests import extract_image, kserve_instances

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def phrase(self) -> str:
        """The HTTP reason phrase: the error's type (a KServe answer's first failure's)."""
        errors = [self.body, *self.body.get("predictions", []), *self.body.get("explanations", [])]
        return next((str(e["type"]) for e in errors if "type" in e), "error")


# A request's place in its batch; a KServe instance's is (request, instance).
Key = int | tuple[int, int]


def _rejected(key: Key, error: InputError) -> Answer:
    log.info("rejected request %s: %s (%s)", key, error.code, error.message)
    return Answer(error.status, error.to_dict())


# Our fault, not the client's: no detail leaks, the traceback goes to the log.
INTERNAL_ERROR = Answer(
    500, {"code": 500, "type": "internal_error", "message": "the server failed on this request"}
)


class Result(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


# How a batch of image bytes is answered: a verdict, or a verdict with its heatmap.
Run = Callable[[Predictor, list[bytes]], Sequence[Result | InputError]]
RUNS: dict[bool, Run] = {
    False: lambda predictor, images: predictor.predict_bytes(images),
    True: explain_bytes,
}


def _classify(predictor: Predictor, run: Run, images: dict[Key, bytes]) -> dict[Key, Answer]:
    """Run a batch in one model call; if that call fails, run it one by one, so only the
    request that makes it fail gets the 500."""
    indices = list(images)
    try:
        results = run(predictor, [images[i] for i in indices])
    except InputError as error:  # the batch's own fault (a model without maps): all of it
        return {index: _rejected(index, error) for index in indices}
    except Exception:  # one request must not fail its neighbours, whatever went wrong
        if len(indices) == 1:
            log.exception("request %s failed", indices[0])
            return {indices[0]: INTERNAL_ERROR}
        log.warning("a batch of %d failed; answering its requests one by one", len(indices))
        answers: dict[Key, Answer] = {}
        for index in indices:
            answers.update(_classify(predictor, run, {index: images[index]}))
        return answers
    return {
        index: _rejected(index, result)
        if isinstance(result, InputError)
        else Answer(200, result.to_dict())
        for index, result in zip(indices, results, strict=True)
    }


def _kserve_answer(parts: list[Answer], explain: bool) -> Answer:
    """One KServe v1 answer from its instances' answers, in request order, under
    ``predictions`` (``explanations`` for :explain); 200 unless every instance failed."""
    status = 200 if any(p.status == 200 for p in parts) else parts[0].status
    key = "explanations" if explain else "predictions"
    return Answer(status, {key: [p.body for p in parts]})


def answer_batch(
    predictor: Predictor,
    requests: list[dict[str, Any]],
    content_types: Sequence[str | None] | None = None,
    explain: Sequence[bool] | None = None,
) -> list[Answer]:
    """One answer per request: 200 with a verdict (and its heatmap where ``explain`` says
    so), the 4xx of its input error, or a 500. Predictions and explanations each take
    one model call, and neither kind of failure reaches a request of the other. A KServe
    v1 request (``{"instances": [...]}``) gets one answer for all its instances, which
    join the batch's model call like any other image."""
    types = list(content_types) if content_types is not None else [None] * len(requests)
    wants = list(explain) if explain is not None else [False] * len(requests)
    answers: dict[Key, Answer] = {}
    images: dict[bool, dict[Key, bytes]] = {False: {}, True: {}}
    instances: dict[int, int] = {}  # KServe requests: how many instances each holds
    for index, request in enumerate(requests):
        try:
            found = kserve_instances(request)
        except InputError as error:
            answers[index] = _rejected(index, error)
            continue
        except Exception:  # a parser bug: this request's 500 alone
            log.exception("request %d could not be read", index)
            answers[index] = INTERNAL_ERROR
            continue
        if found is None:
            _read(index, request, types[index], images[wants[index]], answers)
            continue
        instances[index] = len(found)
        for place, item in enumerate(found):
            # An instance is an object like a JSON body, or a bare base64 string.
            row = {"data": item} if isinstance(item, str) else item
            _read((index, place), row, None, images[wants[index]], answers)
    for explaining, group in images.items():
        if group:
            answers.update(_classify(predictor, RUNS[explaining], group))
    for index, count in instances.items():
        parts = [answers.pop((index, place)) for place in range(count)]
        answers[index] = _kserve_answer(parts, wants[index])
    return [answers[index] for index in range(len(requests))]


def _read(
    key: Key,
    request: Any,
    content_type: str | None,
    images: dict[Key, bytes],
    answers: dict[Key, Answer],
) -> None:
    """The image of one request (or instance) into ``images``, or its answer if none."""
    try:
        images[key] = extract_image(request, content_type)
    except InputError as error:
        answers[key] = _rejected(key, error)
    except Exception:  # e.g. a parser bug: this request's 500, not the batch's 503
        log.exception("request %s could not be read", key)
        answers[key] = INTERNAL_ERROR
