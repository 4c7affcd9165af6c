"""The verdict every interface returns, shared by the Predictor, the server and the bot.

Kept free of numpy and onnxruntime so light clients (the Telegram bot) can use it
without loading the model's dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Prediction:
    """One image's verdict, as the REST API returns it."""

    label: str
    confidence: float
    probabilities: dict[str, float]
    model_version: str
    # What the file states about its own origin (ai_detector.inference.provenance), read from the
    # original bytes; label and confidence stay the model's alone.
    provenance: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        answer = {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
            "model_version": self.model_version,
        }
        if self.provenance is not None:
            answer["provenance"] = self.provenance
        return answer
