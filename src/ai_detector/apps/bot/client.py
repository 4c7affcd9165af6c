"""HTTP client for the prediction service; the bot never loads the model itself.

    client = DetectorClient.from_settings(load_settings())
    prediction = await client.predict(image_bytes)   # POST {url}/predictions/{model}
    why = await client.explain(image_bytes)          # POST {url}/explanations/{model}
    await client.close()

Every failure becomes one of three exceptions the handlers turn into a message:
:class:`ImageRejected` (a 4xx about the image), :class:`ServiceUnavailable` (the
service cannot answer now) and :class:`BadServiceResponse` (it answered nonsense).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from ai_detector.apps.bot.config import Settings
from ai_detector.contract import TOKEN_ENV
from ai_detector.inference.prediction import Prediction

log = logging.getLogger(__name__)
T = TypeVar("T")

# These 4xx answers are about the deployment (auth, wrong model name, overload), not
# about the user's image, so the user hears "unavailable" and the operator gets a log line.
SERVICE_SIDE_4XX = frozenset({401, 403, 404, 405, 408, 429})
# TorchServe 0.12 answers a missing, wrong or expired token-auth key with a 400 of this type.
KEY_REFUSED = "InvalidKeyException"
# Gateways and TorchServe answer these before the request reached a model worker, so a
# second try is safe and often succeeds (e.g. while workers restart).
RETRY_STATUSES = frozenset({502, 503, 504})


class DetectorError(Exception):
    """Base class: the image could not be classified."""


class ServiceUnavailable(DetectorError):  # noqa: N818 - reads better at the call site
    """The service is down, too slow, overloaded or misconfigured.

    ``retriable`` is true for transient failures (connection errors, 502/503/504).
    """

    def __init__(self, message: str, *, retriable: bool = False) -> None:
        super().__init__(message)
        self.retriable = retriable


class BadServiceResponse(DetectorError):  # noqa: N818
    """The service answered 200 but not with the JSON the contract promises."""


class NotExplainable(DetectorError):  # noqa: N818
    """The service's model cannot explain its verdicts (501 no_explanation)."""


class ImageRejected(DetectorError):  # noqa: N818
    """The service refused this image (4xx); ``code`` is its error type, e.g. not_an_image."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def parse_prediction(payload: Any) -> Prediction:
    """The service's JSON answer as a Prediction, or BadServiceResponse."""
    # TorchServe wraps a handler's answer in a list when it batches; accept both.
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if not isinstance(payload, dict):
        raise BadServiceResponse(f"expected a JSON object, got {type(payload).__name__}")
    label, confidence = payload.get("label"), payload.get("confidence")
    if not isinstance(label, str) or not label:
        raise BadServiceResponse(f"no label in the answer: {payload!r:.200}")
    if not isinstance(confidence, int | float) or isinstance(confidence, bool):
        raise BadServiceResponse(f"no numeric confidence in the answer: {payload!r:.200}")
    raw = payload.get("probabilities")
    # Optional for the bot: it only shows the winning label.
    probabilities = {
        str(key): float(value)
        for key, value in (raw.items() if isinstance(raw, dict) else [])
        if isinstance(value, int | float)
    }
    return Prediction(
        label=label,
        confidence=min(1.0, max(0.0, float(confidence))),
        probabilities=probabilities,
        model_version=str(payload.get("model_version", "")),
        provenance=provenance
        if isinstance(provenance := payload.get("provenance"), dict)
        else None,
    )


@dataclass(frozen=True)
class Explained:
    """A verdict with its heatmap overlay (PNG bytes) and what the heat weighs."""

    prediction: Prediction
    overlay_png: bytes
    target: str
    against: str


def parse_explanation(payload: Any) -> Explained:
    prediction = parse_prediction(payload)
    found = payload.get("explanation") if isinstance(payload, dict) else None
    if not isinstance(found, dict) or not isinstance(found.get("overlay_png"), str):
        raise BadServiceResponse(f"no explanation overlay in the answer: {payload!r:.200}")
    try:
        overlay = base64.b64decode(found["overlay_png"], validate=True)
    except ValueError as exc:
        raise BadServiceResponse("the overlay is not base64") from exc
    return Explained(
        prediction, overlay, str(found.get("target", "")), str(found.get("against", ""))
    )


def _rejection(status: int, body: str, content_type: str) -> ImageRejected:
    code, message = "bad_input", body.strip()[:300] or f"HTTP {status}"
    if content_type == "application/json":
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            code = str(payload.get("type") or code)
            message = str(payload.get("message") or message)
    if status == 413:
        # TorchServe's frontend answers an oversize body itself, in its own wording.
        code = "image_too_large"
    return ImageRejected(status, code, message)


class DetectorClient:
    """Calls ``POST {service_url}/predictions/{model}``; one shared aiohttp session."""

    def __init__(
        self,
        predict_url: str,
        *,
        request_timeout: float = 30.0,
        connect_timeout: float = 5.0,
        retries: int = 2,
        retry_backoff: float = 0.5,
        max_concurrency: int = 4,
        token: str | None = None,
    ) -> None:
        self.predict_url = predict_url
        # TorchServe serves a model's explanations beside its predictions.
        base, _, model = predict_url.rpartition("/predictions/")
        self.explain_url = f"{base}/explanations/{model}"
        self.timeout = aiohttp.ClientTimeout(total=request_timeout, connect=connect_timeout)
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.headers = {"Content-Type": "application/octet-stream"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        # An album of ten photos must not become ten simultaneous model calls.
        self._slots = asyncio.Semaphore(max_concurrency)
        # Created on first use: a ClientSession must be made inside the running loop.
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectorClient:
        return cls(
            settings.predict_url,
            request_timeout=settings.request_timeout,
            connect_timeout=settings.connect_timeout,
            retries=settings.retries,
            retry_backoff=settings.retry_backoff,
            max_concurrency=settings.max_concurrency,
            token=settings.service_token,
        )

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def predict(self, data: bytes) -> Prediction:
        """Classify one encoded image; raises a :class:`DetectorError` subclass on failure."""
        return await self._call(self.predict_url, data, parse_prediction)

    async def explain(self, data: bytes) -> Explained:
        """The verdict and its heatmap overlay; :class:`NotExplainable` if the model has none."""
        return await self._call(self.explain_url, data, parse_explanation)

    async def _call(self, url: str, data: bytes, parse: Callable[[Any], T]) -> T:
        async with self._slots:
            attempt = 0
            while True:
                try:
                    return await self._post_once(url, data, parse)
                except ServiceUnavailable as error:
                    if not error.retriable or attempt >= self.retries:
                        raise
                    delay = self.retry_backoff * 2**attempt
                    attempt += 1
                    log.warning(
                        "prediction service: %s; retry %d/%d in %.1fs",
                        error,
                        attempt,
                        self.retries,
                        delay,
                    )
                    await asyncio.sleep(delay)

    async def _post_once(self, url: str, data: bytes, parse: Callable[[Any], T]) -> T:
        started = time.monotonic()
        try:
            async with self._get_session().post(url, data=data, headers=self.headers) as response:
                body = await response.text(errors="replace")
                status, content_type = response.status, response.content_type
        except aiohttp.ClientConnectionError as exc:
            # Refused, reset, DNS, connect timeout: transient, and a prediction is idempotent.
            raise ServiceUnavailable(f"cannot reach {url}: {exc!r}", retriable=True) from exc
        except TimeoutError as exc:
            # The whole call ran out of time: the service is alive but slow, and a retry
            # would most likely make the user wait the same time again for nothing.
            raise ServiceUnavailable(f"no answer from {url} within {self.timeout.total}s") from exc
        except aiohttp.ClientError as exc:
            raise ServiceUnavailable(f"broken answer from {url}: {exc!r}") from exc
        log.debug("service answered %d in %.3fs", status, time.monotonic() - started)
        if status == 200:
            try:
                return parse(json.loads(body))
            except ValueError as exc:
                raise BadServiceResponse(f"answer is not JSON: {body[:200]!r}") from exc
        if 400 <= status < 500 and status not in SERVICE_SIDE_4XX:
            rejection = _rejection(status, body, content_type)
            if rejection.code == KEY_REFUSED:
                # The service's fault to fix, not the user's image: say so in the log.
                raise ServiceUnavailable(
                    f"{url} refused the key: set {TOKEN_ENV} to the service's inference key"
                )
            raise rejection
        if status == 501:
            raise NotExplainable(f"{url} answered 501: {body[:200]!r}")
        raise ServiceUnavailable(
            f"{url} answered {status}: {body[:200]!r}",
            retriable=status in RETRY_STATUSES,
        )
