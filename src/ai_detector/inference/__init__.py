"""The inference core: image bytes -> verdict, with numpy, PIL and onnxruntime only (never torch).

Everything that answers a user goes through :class:`~ai_detector.inference.predictor.Predictor`:
the TorchServe handler (:mod:`ai_detector.serving`), the CLI and the bot (:mod:`ai_detector.apps`),
and the pipeline's evaluation (:mod:`ai_detector.pipeline`). Dependencies point here, never out.
"""
