"""Pipeline parameters: params.yaml loaded once into typed, frozen dataclasses.

Every DVC stage reads its own section (``load_params().train``...); unknown keys are
errors, so a typo in params.yaml fails loudly instead of being ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


@dataclass(frozen=True)
class PrepareParams:
    sources: str = "configs/sources/dev.yaml"
    seed: int = 42
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    # Self-blended deepfakes made from the real faces of this source ("" = none).
    deepfakes_from: str = ""
    deepfakes_per_real: float = 0.5


@dataclass(frozen=True)
class TrainParams:
    recipe: str = "head"  # "head": frozen backbone, cached features; "finetune": whole network
    seed: int = 42
    epochs: int = 200
    batch_size: int = 64
    lr: float = 0.003
    weight_decay: float = 0.01
    patience: int = 20
    augment_views: int = 2
    jpeg_quality: tuple[int, int] = (60, 100)
    blur_probability: float = 0.1
    input_size: int = 224
    resize_size: int = 256
    # Backbone stages whose pooled output feeds the head besides the final features.
    taps: tuple[int, ...] = (2, 4, 6)
    # recipe "finetune": after the head, these stages onwards learn too (LP-FT).
    finetune_from: int = 5
    finetune_epochs: int = 6
    finetune_lr: float = 0.0003
    finetune_batch_size: int = 32
    recall_target: float = 0.97
    threshold_policy: str = "balanced"  # "balanced" (max balanced accuracy) or "recall_target"
    version: str = "dev"


@dataclass(frozen=True)
class EvaluateParams:
    jpeg_quality: int = 50
    batch_size: int = 64


# onnxruntime.quantization.CalibrationMethod names.
CALIBRATION_METHODS = {"MinMax", "Entropy", "Percentile", "Distribution"}


@dataclass(frozen=True)
class ExportParams:
    opset: int = 18
    quantize: bool = True
    calibration_images: int = 128
    bias_correction_images: int = 128
    # Candidates: how many leading convolutions stay fp32 (one model per value and method).
    float_convs: tuple[int, ...] = (1,)
    calibration_methods: tuple[str, ...] = ("MinMax", "Percentile")
    # Training images (beside the calibration and correction ones) that fit the margin of
    # the int8 -> fp32 cascade; 0 = no cascade candidates.
    fallback_images: int = 512
    min_agreement: float = 0.99
    max_f1_drop: float = 0.005
    # Where it runs, an int8 candidate replaces fp32 only if this many times faster
    # (ai_detector.inference.precision); written into metadata.json.
    min_speedup: float = 1.1

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


@dataclass(frozen=True)
class GeneraliseParams:
    # Sets never trained on, scored by the model itself (configs/sources layout; "" = none).
    eval_sources: str = "configs/sources/eval.yaml"
    cifake_source: str = "cifake"
    # CIFAKE classes held out together, one fold per pair.
    cifake_holdout: tuple[tuple[str, ...], ...] = (("1", "2"), ("3", "4"), ("5", "6"), ("7", "8"))
    # The fakes-only face set, and the origin group whose test faces it is scored against,
    # resized to a side in this range (the fakes' own range, so size tells nothing).
    faces_source: str = "faces-t2i-sdxl-flux"
    face_reals: str = "ffhq"
    face_sizes: tuple[int, int] = (250, 480)
    batch_size: int = 64
    threads: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "cifake_holdout", tuple(tuple(str(c) for c in p) for p in self.cifake_holdout)
        )


@dataclass(frozen=True)
class PackageParams:
    model_name: str = "ai-detector"


@dataclass(frozen=True)
class Params:
    prepare: PrepareParams = field(default_factory=PrepareParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    export: ExportParams = field(default_factory=ExportParams)
    generalise: GeneraliseParams = field(default_factory=GeneraliseParams)
    package: PackageParams = field(default_factory=PackageParams)


def _build(cls: type[T], values: dict[str, Any] | None) -> T:
    values = dict(values or {})
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys in params: {sorted(unknown)}")
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
        prepare=_build(PrepareParams, raw.get("prepare")),
        train=_build(TrainParams, raw.get("train")),
        evaluate=_build(EvaluateParams, raw.get("evaluate")),
        export=_build(ExportParams, raw.get("export")),
        generalise=_build(GeneraliseParams, raw.get("generalise")),
        package=_build(PackageParams, raw.get("package")),
    )
