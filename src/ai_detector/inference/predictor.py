"""Run a trained, exported model on images, with or without TorchServe.

The Predictor reads ``metadata.json`` and the ONNX model from a model directory,
preprocesses with :mod:`ai_detector.inference.preprocess`, runs onnxruntime on a whole batch
at once and turns logits into a verdict with the stored calibration and threshold.

    from ai_detector.inference.predictor import Predictor
    print(Predictor().predict_one(open("photo.jpg", "rb").read()).to_dict())

(`ai-detector predict photo.jpg` does the same from the shell.)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ai_detector.inference.cascade import needs_fallback
from ai_detector.inference.decision import decide, softmax
from ai_detector.inference.errors import InputError, NoExplanationError
from ai_detector.inference.metadata import METADATA_FILE, ModelMetadata
from ai_detector.inference.precision import choose
from ai_detector.inference.prediction import Prediction
from ai_detector.inference.preprocess import preprocess_bytes
from ai_detector.inference.provenance import read_provenance
from ai_detector.inference.sessions import int8_saturates, onnx_session

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"
# What `dvc repro` produces; it wins over the packaged default when present.
PIPELINE_MODEL_DIR = Path("models") / "model"
MODEL_DIR_ENV = "AI_DETECTOR_MODEL_DIR"
THREADS_ENV = "AI_DETECTOR_THREADS"
CAM_PREFIX = "cam_"


def resolve_model_dir(explicit: str | Path | None = None) -> Path:
    """Explicit path, else $AI_DETECTOR_MODEL_DIR, else ./models/model, else the default."""
    for candidate in (explicit, os.environ.get(MODEL_DIR_ENV)):
        if candidate:
            path = Path(candidate)
            if not (path / METADATA_FILE).is_file():
                raise FileNotFoundError(f"{path} is not a model directory (no {METADATA_FILE})")
            return path
    if (PIPELINE_MODEL_DIR / METADATA_FILE).is_file():
        return PIPELINE_MODEL_DIR
    return DEFAULT_MODEL_DIR


def cam_names(session: Any) -> list[str]:
    """The class-activation outputs a model file carries (ai_detector.pipeline.cam_graph)."""
    return [o.name for o in session.get_outputs() if o.name.startswith(CAM_PREFIX)]


@dataclass(frozen=True)
class ModelRun:
    logits: np.ndarray  # (N, labels)
    maps: list[np.ndarray]  # per class-activation tap (N, labels, h, w); empty unless asked
    model_files: list[str]  # the file whose outputs each row holds


class Predictor:
    """Classify images with an exported ONNX model; thread-safe for concurrent calls."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        threads: int | None = None,
        precision: str | None = None,
    ) -> None:
        """``precision``: a candidate's name, ``exported``, or ``auto`` (the default, or
        $AI_DETECTOR_PRECISION): the candidate this CPU's int8 kernels call for
        (:mod:`ai_detector.inference.precision`), the same in every process on a host."""
        self.model_dir = resolve_model_dir(model_dir)
        self.metadata = ModelMetadata.load(self.model_dir)
        self.spec = self.metadata.image_spec
        for name in self.metadata.model_files:
            if not (self.model_dir / name).is_file():
                raise FileNotFoundError(
                    f"{self.model_dir} lacks {name}, which its {METADATA_FILE} names"
                )
        threads = threads or int(os.environ.get(THREADS_ENV, "0"))
        self.candidate, self.precision_reason = choose(
            self.metadata, int8_exact=not int8_saturates(), precision=precision
        )
        self.session = onnx_session(self.model_dir / self.candidate.model_file, threads)
        self.input_name = self.session.get_inputs()[0].name
        # The logits only: a model may carry more outputs (ai_detector.pipeline.cam_graph).
        self.output_names = [self.session.get_outputs()[0].name]
        fallback = self.candidate.fallback_model_file
        self.fallback = onnx_session(self.model_dir / fallback, threads) if fallback else None
        log.info(
            "loaded model %s (%s, %s) from %s",
            self.metadata.version,
            self.candidate.name,
            ", ".join(self.metadata.labels),
            self.model_dir,
        )

    def describe(self) -> dict[str, Any]:
        """What runs here and why: the model, the candidate chosen on this CPU and the
        reason, and whether int8 sessions needed exact sums."""
        return {
            "model_version": self.metadata.version,
            "precision": self.candidate.name,
            "exported_precision": self.metadata.precision,
            "candidates": [c.name for c in self.metadata.runnable],
            "precision_reason": self.precision_reason,
            "int8_exact_sums_forced": int8_saturates(),
            "threads": self.session.get_session_options().intra_op_num_threads,
        }

    def near_boundary(self, logits: np.ndarray) -> np.ndarray:
        """Rows of first-pass logits that the fp32 fallback runs again (none without one)."""
        if self.fallback is None:
            return np.zeros(len(logits), bool)
        return needs_fallback(logits, self.metadata, self.candidate.fallback_margin)

    def _outputs(self, session: Any, batch: np.ndarray, with_maps: bool) -> list[np.ndarray]:
        names = self.output_names + (cam_names(session) if with_maps else [])
        if with_maps and len(names) == 1:
            raise NoExplanationError(
                "this model has no explanation outputs (cam_*): re-export it, or add them with "
                "python -m ai_detector.pipeline.cam_graph MODEL.onnx"
            )
        return [np.asarray(o) for o in session.run(names, {self.input_name: batch})]

    def first_pass(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The chosen model's logits for a preprocessed float32 batch (N, 3, H, W), and
        which rows the fp32 fallback would run again."""
        (logits,) = self._outputs(self.session, batch, with_maps=False)
        return logits, self.near_boundary(logits)

    def run(self, batch: np.ndarray, with_maps: bool = False) -> ModelRun:
        """The one inference path, for verdicts and explanations alike: the chosen model on
        every row, the fp32 fallback again on the rows near a decision boundary (its maps
        too, so a heatmap always comes from the file whose logits made the verdict)."""
        first = self._outputs(self.session, batch, with_maps)
        near = self.near_boundary(first[0])
        files = [self.candidate.model_file] * len(batch)
        fallback_file = self.candidate.fallback_model_file
        if self.fallback is not None and fallback_file and near.any():
            again = self._outputs(self.fallback, batch[near], with_maps)
            for whole, part in zip(first, again, strict=True):
                whole[near] = part
            files = [fallback_file if n else f for f, n in zip(files, near, strict=True)]
        return ModelRun(first[0], first[1:], files)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Model output for a preprocessed batch (fallback rows from the fp32 model)."""
        return self.run(batch).logits

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (N, labels) for a preprocessed batch."""
        return softmax(self.logits(batch), self.metadata.temperature)

    def predict_arrays(self, batch: np.ndarray) -> list[Prediction]:
        return self.verdicts(self.logits(batch))

    def verdicts(self, logits: np.ndarray) -> list[Prediction]:
        """One verdict per row of model logits (N, labels)."""
        probabilities = softmax(logits, self.metadata.temperature)
        chosen = decide(probabilities, self.metadata)
        labels = self.metadata.labels
        return [
            Prediction(
                label=labels[index],
                confidence=round(float(row[index]), 6),
                probabilities={
                    label: round(float(p), 6) for label, p in zip(labels, row, strict=True)
                },
                model_version=self.metadata.version,
            )
            for row, index in zip(probabilities, chosen, strict=True)
        ]

    def preprocess(self, data: bytes) -> np.ndarray:
        return preprocess_bytes(data, self.spec)

    def predict_bytes(self, items: Sequence[bytes]) -> list[Prediction | InputError]:
        """Classify encoded images in one model call; bad ones come back as errors."""
        prepared: list[np.ndarray | InputError] = []
        for data in items:
            try:
                prepared.append(self.preprocess(data))
            except InputError as error:
                prepared.append(error)
        arrays = [item for item in prepared if isinstance(item, np.ndarray)]
        predictions = iter(self.predict_arrays(np.stack(arrays)) if arrays else [])
        # Provenance comes from the original bytes, which preprocessing has not touched.
        return [
            item
            if isinstance(item, InputError)
            else replace(next(predictions), provenance=read_provenance(data).to_dict())
            for item, data in zip(prepared, items, strict=True)
        ]

    def predict_one(self, data: bytes) -> Prediction:
        """Classify one encoded image; raises :class:`InputError` on bad input."""
        (result,) = self.predict_bytes([data])
        if isinstance(result, InputError):
            raise result
        return result
