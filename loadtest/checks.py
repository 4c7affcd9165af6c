"""Whether an answer of ai-detector keeps its contract: a check returns what is wrong, or None.

Imported by loadtest/locustfile.py (run by Locust, `make loadtest`), which marks a request
failed with the check's message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

EXPECTED: dict[str, Any] = {}
Check = Callable[[int, str], str | None]  # (status, body) -> what is wrong, or None


def snippet(text: str) -> str:
    return " ".join(text[:300].split())[:160]


def check_verdict(status: int, text: str) -> str | None:
    """What is wrong with a classification answer, or None when it keeps the contract."""
    if status != 200:
        return f"HTTP {status}: {snippet(text)}"
    try:
        body = json.loads(text)
        label, confidence = body["label"], float(body["confidence"])
        probabilities = {str(k): float(v) for k, v in body["probabilities"].items()}
        version, total = body["model_version"], sum(probabilities.values())
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"malformed answer: {snippet(text)}"
    checks = [
        (
            isinstance(label, str) and label in probabilities,
            f"label {label!r} not in {snippet(text)}",
        ),
        (isinstance(version, str), f"model_version {version!r} is not a string"),
        (0.0 <= confidence <= 1.0, f"confidence {confidence} outside [0, 1]"),
        (
            all(0.0 <= p <= 1.0 for p in probabilities.values()),
            f"probability outside [0, 1]: {snippet(text)}",
        ),
        (abs(total - 1.0) <= 1e-3, f"probabilities sum to {total:.4f}"),
    ]
    problem = next((message for ok, message in checks if not ok), None)
    if problem is None:
        # The first valid answer fixes the label set: the API does not publish it elsewhere.
        expected = EXPECTED.setdefault("labels", frozenset(probabilities))
        if frozenset(probabilities) != expected:
            problem = f"labels {sorted(probabilities)} differ from {sorted(expected)}"
    return problem


def expect_error(status: int, kind: str) -> Check:
    """A check that wants this 4xx status with a JSON error body of this type."""

    def check(got: int, text: str) -> str | None:
        if got != status:
            return f"expected HTTP {status}, got {got}: {snippet(text)}"
        try:
            found = json.loads(text).get("type")
        except (ValueError, AttributeError):
            return f"HTTP {got} without a JSON error body"
        return None if found == kind else f"error type {found!r}, expected {kind!r}"

    return check
