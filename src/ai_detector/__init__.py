"""ai-detector: tells a real photograph from an AI-generated image or a deepfake.

Four parts, dependencies pointing one way (docs/architecture.md draws them):

- ``inference``: bytes -> verdict (preprocessing, the ONNX :class:`Predictor`); no torch;
- ``pipeline``: the DVC stages that train, export, evaluate and package a model;
- ``serving``: the TorchServe handler and process control;
- ``apps``: the CLI, the Telegram bot and the demo page.

``from ai_detector import Predictor`` is the short way to the inference core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ai_detector.inference.predictor import Predictor

__all__ = ["Predictor"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so that `import ai_detector.pipeline...` does not load onnxruntime first.
    if name == "Predictor":
        from ai_detector.inference.predictor import Predictor

        return Predictor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
