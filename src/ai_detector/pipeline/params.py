"""Pipeline parameters: params.yaml loaded once into typed, frozen dataclasses.

Every DVC stage reads its own section (``load_params().train``...). params.yaml is the
only source of the values: the dataclasses have no defaults, so a missing key is an
error, and so is an unknown one (a typo fails loudly instead of being ignored).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass(frozen=True)
class PrepareParams:
    sources: str
    # sha256 -> split of the records whose split is frozen (pipeline.data.splits); "" = none.
    splits: str
    seed: int
    val_fraction: float
    test_fraction: float
    # Self-blended deepfakes made from the real faces of this source ("" = none).
    deepfakes_from: str
    deepfakes_per_real: float
    # Content-matched fakes (pipeline.data.reconstruct): these sources' real images, a
    # share of them, each pair saved at one JPEG quality drawn from the range.
    reconstruct_from: tuple[str, ...]
    reconstruct_share: float
    reconstruct_quality: tuple[int, int]


REENCODE_FORMATS = ("JPEG", "WEBP", "PNG")


@dataclass(frozen=True)
class TrainParams:
    recipe: str  # "head": frozen backbone, cached features; "finetune": whole network
    seed: int
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    patience: int
    augment_views: int
    jpeg_quality: tuple[int, int]
    blur_probability: float
    noise_probability: float
    # Format and size augmentation (augment.reshare): how often, which formats, how small.
    reshare_probability: float
    reencode_formats: tuple[str, ...]
    rescale: tuple[float, float]
    # Backbone stages whose pooled output feeds the head besides the final features.
    taps: tuple[int, ...]
    # recipe "finetune": after the head, these stages onwards learn too (LP-FT).
    finetune_from: int
    finetune_epochs: int
    finetune_lr: float
    finetune_batch_size: int
    recall_target: float
    threshold_policy: str  # "balanced" (max balanced accuracy) or "recall_target"
    # recipe "finetune": each training image learns towards (1 - w) * its label + w * the
    # CLIP teacher's out-of-fold opinion (ai_detector.pipeline.distil); 0: the labels alone.
    teacher_weight: float
    version: str

    def __post_init__(self) -> None:
        unknown = set(self.reencode_formats) - set(REENCODE_FORMATS)
        if unknown:
            raise ValueError(f"train.reencode_formats: {sorted(unknown)} not in {REENCODE_FORMATS}")
        low, high = self.rescale
        if not 0 < low <= high <= 1:
            raise ValueError(f"train.rescale must satisfy 0 < low <= high <= 1, got {self.rescale}")
        if not 0.0 <= self.teacher_weight <= 1.0:
            raise ValueError(f"train.teacher_weight must be in [0, 1], got {self.teacher_weight}")
        if self.teacher_weight and self.recipe != "finetune":
            raise ValueError("train.teacher_weight: soft targets are learnt by the finetune recipe")


@dataclass(frozen=True)
class EvaluateParams:
    jpeg_quality: int
    batch_size: int


# onnxruntime.quantization.CalibrationMethod names.
CALIBRATION_METHODS = {"MinMax", "Entropy", "Percentile", "Distribution"}
# The kinds of export candidate (ai_detector.pipeline.speed.kind).
TIE_BREAK_KINDS = ("fp32", "int8", "cascade")


@dataclass(frozen=True)
class ExportParams:
    opset: int
    quantize: bool
    calibration_images: int
    bias_correction_images: int
    # Candidates: how many leading convolutions stay fp32 (one model per value and method).
    float_convs: tuple[int, ...]
    calibration_methods: tuple[str, ...]
    # Training images (beside the calibration and correction ones) that fit the margin of
    # the int8 -> fp32 cascade; 0 = no cascade candidates.
    fallback_images: int
    min_agreement: float
    max_f1_drop: float
    # Where it runs, an int8 candidate replaces fp32 only if this many times faster
    # (ai_detector.inference.precision); written into metadata.json.
    min_speedup: float
    # Candidates whose timings lie within the fastest's spread: the first kind here ships
    # (ai_detector.pipeline.speed), so noise cannot change the shipped precision.
    tie_break: tuple[str, ...]

    def __post_init__(self) -> None:
        # Checked here so a typo fails at once, not after minutes of calibration.
        unknown = set(self.calibration_methods) - CALIBRATION_METHODS
        if unknown:
            raise ValueError(
                f"export.calibration_methods: unknown {sorted(unknown)}; "
                f"choose from {sorted(CALIBRATION_METHODS)}"
            )
        if any(count < 0 for count in self.float_convs):
            raise ValueError(f"export.float_convs must be >= 0, got {list(self.float_convs)}")
        if self.quantize and not (self.calibration_methods and self.float_convs):
            raise ValueError("export.quantize needs calibration_methods and float_convs")
        if self.quantize and self.calibration_images < 1:
            raise ValueError("export.calibration_images must be at least 1")
        if self.fallback_images < 0:
            raise ValueError(f"export.fallback_images must be >= 0, got {self.fallback_images}")
        if self.min_speedup < 1.0:
            raise ValueError(f"export.min_speedup must be >= 1, got {self.min_speedup}")
        if sorted(self.tie_break) != sorted(TIE_BREAK_KINDS):
            raise ValueError(
                f"export.tie_break must order {list(TIE_BREAK_KINDS)}, got {list(self.tie_break)}"
            )


@dataclass(frozen=True)
class GeneraliseParams:
    # Sets never trained on, scored by the model itself (configs/sources layout; "" = none).
    eval_sources: str
    cifake_source: str
    # CIFAKE classes held out together, one fold per pair.
    cifake_holdout: tuple[tuple[str, ...], ...]
    # The fakes-only face set, and the origin group whose test faces it is scored against,
    # resized to a side in this range (the fakes' own range, so size tells nothing).
    faces_source: str
    face_reals: str
    face_sizes: tuple[int, int]
    batch_size: int
    threads: int
    # Robustness: each evaluation-only set scored again after both classes are resized to
    # this long side and saved as JPEG of this quality (ai_detector.pipeline.eval_sets).
    reencode_long_side: int
    reencode_quality: int

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "cifake_holdout", tuple(tuple(str(c) for c in p) for p in self.cifake_holdout)
        )
        if self.reencode_long_side < 16:
            raise ValueError(
                f"generalise.reencode_long_side must be >= 16, got {self.reencode_long_side}"
            )
        if not 1 <= self.reencode_quality <= 100:
            raise ValueError(
                f"generalise.reencode_quality must be in 1..100, got {self.reencode_quality}"
            )


@dataclass(frozen=True)
class LogoParams:
    # True leave-one-generator-out (ai_detector.pipeline.logo): per fold, these origins
    # (Record.origin) are held out together, the model is trained without them and scored on them.
    holdout: tuple[tuple[str, ...], ...]
    # The folds' fine-tune epochs (fewer than train.finetune_epochs keeps `dvc repro` in
    # budget); every other training setting is the train section's.
    finetune_epochs: int
    # Scoring the held-out records: onnxruntime threads and images per model call.
    batch_size: int
    threads: int

    def __post_init__(self) -> None:
        folds = tuple(tuple(str(o) for o in fold) for fold in self.holdout)
        object.__setattr__(self, "holdout", folds)
        if not folds or any(not fold for fold in folds):
            raise ValueError(f"logo.holdout needs at least one non-empty fold, got {folds}")
        repeated = [fold for fold in folds if len(set(fold)) != len(fold)]
        if repeated:
            raise ValueError(f"logo.holdout: an origin repeated within a fold: {repeated}")
        for name in ("finetune_epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"logo.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Params:
    prepare: PrepareParams
    train: TrainParams
    evaluate: EvaluateParams
    export: ExportParams
    generalise: GeneraliseParams
    logo: LogoParams


def _build(section: str, cls: type[T], values: dict[str, Any] | None) -> T:
    values = dict(values or {})
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {section} keys in params: {sorted(unknown)}")
    missing = names - set(values)
    if missing:
        raise ValueError(f"params: {section} is missing {sorted(missing)}")
    for name, value in values.items():
        if isinstance(value, list):
            values[name] = tuple(value)
    return cls(**values)


def load_params(path: str | Path = "params.yaml") -> Params:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    sections = {f.name: f.type for f in dataclasses.fields(Params)}
    unknown = set(raw) - set(sections)
    if unknown:
        raise ValueError(f"unknown sections in {path}: {sorted(unknown)}")
    return Params(
        prepare=_build("prepare", PrepareParams, raw.get("prepare")),
        train=_build("train", TrainParams, raw.get("train")),
        evaluate=_build("evaluate", EvaluateParams, raw.get("evaluate")),
        export=_build("export", ExportParams, raw.get("export")),
        generalise=_build("generalise", GeneraliseParams, raw.get("generalise")),
        logo=_build("logo", LogoParams, raw.get("logo")),
    )
