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

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "confidence": self.confidence,
            "probabilities": self.probabilities,
            "model_version": self.model_version,
        }
