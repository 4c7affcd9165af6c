"""params.yaml: the repo's file loads, and export settings that cannot work fail at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from ai_detector.pipeline import params
from ai_detector.pipeline.params import Params, load_params

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_params_load():
    params = load_params(ROOT / "params.yaml")
    assert params.export.calibration_methods
    assert all(isinstance(count, int) for count in params.export.float_convs)
    assert params.logo.holdout and all(isinstance(fold, tuple) for fold in params.logo.holdout)


@pytest.mark.parametrize(
    ("export", "message"),
    [
        ({"calibration_methods": ["MinMax", "Minmax"]}, "unknown ['Minmax']"),
        ({"float_convs": [1, -2]}, "float_convs must be >= 0"),
        ({"float_convs": []}, "needs calibration_methods and float_convs"),
        ({"calibration_images": 0}, "calibration_images must be at least 1"),
        ({"fallback_images": -1}, "fallback_images must be >= 0"),
        ({"calibrations": 8}, "unknown export keys"),
        ({"tie_break": ["fp32", "int8"]}, "tie_break must order"),
    ],
)
def test_bad_export_settings_are_refused_with_the_reason(tmp_path, export, message):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["export"].update(export)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_params(path)


@pytest.mark.parametrize(
    ("section", "values", "message"),
    [
        ("generalise", {"reencode_long_side": 8}, "reencode_long_side must be >= 16"),
        ("generalise", {"reencode_quality": 0}, "reencode_quality must be in 1..100"),
        ("generalise", {"reencode_quality": 101}, "reencode_quality must be in 1..100"),
        ("logo", {"holdout": []}, "needs at least one non-empty fold"),
        ("logo", {"holdout": [["a"], []]}, "needs at least one non-empty fold"),
        ("logo", {"holdout": [["a", "a"]]}, "an origin repeated within a fold"),
        ("logo", {"finetune_epochs": 0}, "logo.finetune_epochs must be >= 1"),
        ("logo", {"threads": 0}, "logo.threads must be >= 1"),
        ("logo", {"epochs": 2}, "unknown logo keys"),
        ("train", {"teacher_weight": 1.5}, "teacher_weight must be in [0, 1]"),
        ("train", {"teacher_weight": -0.1}, "teacher_weight must be in [0, 1]"),
        (
            "train",
            {"recipe": "head", "teacher_weight": 0.5},
            "soft targets are learnt by the finetune recipe",
        ),
    ],
)
def test_bad_settings_of_other_sections_are_refused_with_the_reason(
    tmp_path, section, values, message
):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw[section].update(values)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_params(path)


def test_quantize_off_needs_no_calibration_settings():
    export = load_params(ROOT / "params.yaml").export
    changed = dataclasses.replace(export, quantize=False, calibration_methods=(), float_convs=())
    assert changed.opset == export.opset


@pytest.mark.parametrize(
    "section", ["prepare", "train", "evaluate", "export", "generalise", "logo"]
)
def test_a_missing_key_is_an_error_not_a_default(tmp_path, section):
    """params.yaml is the only source of the values: dropping one must fail, naming it."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    dropped = sorted(raw[section])[0]
    del raw[section][dropped]
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match=f"{section} is missing \\['{dropped}'\\]"):
        load_params(path)


def test_every_field_has_no_default():
    """A default in the dataclass would be a second place for the setting."""
    for section in dataclasses.fields(Params):
        cls = section.type if isinstance(section.type, type) else eval(section.type, vars(params))
        defaults = [f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING]
        assert defaults == [], f"{cls.__name__} has defaults for {defaults}"


def test_known_calibration_methods_are_onnxruntimes():
    from onnxruntime.quantization import CalibrationMethod

    from ai_detector.pipeline.params import CALIBRATION_METHODS

    assert {method.name for method in CalibrationMethod} == CALIBRATION_METHODS
