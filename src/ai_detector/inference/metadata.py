"""Model metadata: everything needed to use a trained model, saved next to its weights.

A model directory holds ``metadata.json`` beside the model file. Labels, the input
(size, normalisation, resampling: ImageSpec), the decision threshold and the calibration
temperature are read from here by every consumer (Predictor, handler, evaluation,
export), never repeated as constants (nanoGPT keeps its model args in the checkpoint
for the same reason).

    python -c "from ai_detector.inference.metadata import ModelMetadata as M; \
        print(M.load('models/model'))"
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METADATA_FILE = "metadata.json"
# PIL resampling filters, by the names timm's data config uses for them.
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")


@dataclass(frozen=True)
class ImageSpec:
    """How a model wants its input: crop size, resize size, normalisation, resampling.

    Training takes it from the backbone's timm data config
    (:func:`ai_detector.pipeline.backbone.backbone_image_spec`); every consumer after
    that reads it from metadata.json.
    """

    input_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    # Models exported before the spec came from timm were trained with bilinear.
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}"
            )


@dataclass(frozen=True)
class Candidate:
    """One way to run the model: a model file, optionally with an fp32 fallback for the
    images near a decision boundary (ai_detector.inference.cascade), and how it did against fp32
    on validation. The export stage writes every candidate it ships; the Predictor runs
    the fastest of those that ``passed`` the parity gate on the CPU it runs on."""

    name: str
    model_file: str
    fallback_model_file: str | None = None
    fallback_margin: float = 0.0
    # Share of validation images that the fallback ran again: the cascade's extra cost.
    fallback_fraction: float = 0.0
    passed: bool = True
    parity: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.fallback_margin < 0:
            raise ValueError(f"fallback_margin must be >= 0, got {self.fallback_margin}")
        if not 0.0 <= self.fallback_fraction <= 1.0:
            raise ValueError(f"fallback_fraction must be in [0, 1], got {self.fallback_fraction}")

    @property
    def model_files(self) -> tuple[str, ...]:
        if self.fallback_model_file:
            return (self.model_file, self.fallback_model_file)
        return (self.model_file,)


@dataclass(frozen=True)
class ModelMetadata:
    """What a consumer of a trained model needs to know about it."""

    labels: tuple[str, ...]
    version: str
    backbone: str
    # The backbone's input (ImageSpec), flat as in metadata.json.
    input_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    model_file: str = "model.onnx"
    # The label of authentic photos. An image is called fake when the summed
    # probability of all other labels reaches ``fake_threshold`` (chosen on validation
    # to reach a recall target), and then gets the most probable fake label.
    real_label: str = "Real"
    fake_threshold: float = 0.5
    # Temperature scaling of the logits (1.0 = uncalibrated).
    temperature: float = 1.0
    precision: str = "fp32"
    # An int8 model can keep its fp32 original beside it: images whose int8 verdict is
    # within ``fallback_margin`` (log-odds) of a decision boundary run again in fp32
    # (ai_detector.inference.cascade).
    fallback_model_file: str | None = None
    fallback_margin: float = 0.0
    # Every candidate shipped in the directory (empty: only the one above). The exported
    # fields above are the export machine's choice; the Predictor chooses again where it
    # runs, by whether that CPU's int8 kernels are exact (ai_detector.inference.precision).
    # ``min_speedup``: the export stage ships int8 only if it times that much faster than
    # fp32 there.
    candidates: tuple[Candidate, ...] = ()
    min_speedup: float = 1.1
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise ValueError(f"a model needs at least two labels, got {self.labels!r}")
        if self.real_label not in self.labels:
            raise ValueError(f"real_label {self.real_label!r} is not one of {self.labels!r}")
        if not 0.0 < self.fake_threshold < 1.0:
            raise ValueError(f"fake_threshold must be in (0, 1), got {self.fake_threshold}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.resize_size < self.input_size:
            raise ValueError("resize_size must be at least input_size")
        self.image_spec  # noqa: B018  (checks the interpolation's name)
        if self.fallback_margin < 0:
            raise ValueError(f"fallback_margin must be >= 0, got {self.fallback_margin}")
        if self.min_speedup < 1.0:
            raise ValueError(f"min_speedup must be >= 1, got {self.min_speedup}")
        if self.candidates and not any(c.passed for c in self.candidates):
            raise ValueError("no candidate passed the parity gate: nothing can run")

    @property
    def exported(self) -> Candidate:
        """The candidate the export machine chose (the top-level fields)."""
        return Candidate(
            self.precision, self.model_file, self.fallback_model_file, self.fallback_margin
        )

    @property
    def runnable(self) -> tuple[Candidate, ...]:
        """The candidates that passed the parity gate, or the exported one alone."""
        return tuple(c for c in self.candidates if c.passed) or (self.exported,)

    @property
    def model_files(self) -> tuple[str, ...]:
        """Every model file the directory must hold, for every candidate."""
        names = [*self.exported.model_files]
        for candidate in self.candidates:
            names += [n for n in candidate.model_files if n not in names]
        return tuple(names)

    @property
    def image_spec(self) -> ImageSpec:
        return ImageSpec(self.input_size, self.resize_size, self.mean, self.std, self.interpolation)

    @property
    def real_index(self) -> int:
        return self.labels.index(self.real_label)

    def replace(self, **changes: Any) -> ModelMetadata:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown metadata fields: {sorted(unknown)}")
        values = dict(data)
        for key in ("labels", "mean", "std"):
            if key in values:
                values[key] = tuple(values[key])
        values["candidates"] = tuple(Candidate(**c) for c in values.get("candidates", ()))
        return cls(**values)

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / METADATA_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> ModelMetadata:
        path = Path(model_dir) / METADATA_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no {METADATA_FILE} in model directory {model_dir}")
        return cls.from_dict(json.loads(path.read_text()))
