"""The training pipeline: one module per DVC stage (``dvc.yaml``) plus the training helpers.

    dvc repro        # prepare -> train -> export -> evaluate -> card -> package

Stages may import :mod:`ai_detector.inference` (so a model is scored the way it is served);
nothing outside this package imports it.
"""
