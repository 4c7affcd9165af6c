"""ai-detector: tells a real photograph from an AI-generated image or a deepfake.

The package is organised in layers that each work on their own:

- ``preprocess``: bytes -> normalised tensor, the one place that touches pixels;
- ``metadata``: what a trained model needs to be used (labels, sizes, thresholds);
- ``predictor``: runs an exported ONNX model on images, with or without TorchServe;
- training stages (``prepare``, ``train``, ``evaluate``, ``export``, ``package``) run by DVC.
"""

__version__ = "0.1.0"
