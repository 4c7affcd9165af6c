"""params.yaml: the repo's file loads, and export settings that cannot work fail at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ai_detector.pipeline.params import ExportParams, load_params

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_params_load():
    params = load_params(ROOT / "params.yaml")
    assert params.export.calibration_methods
    assert all(isinstance(count, int) for count in params.export.float_convs)


@pytest.mark.parametrize(
    ("export", "message"),
    [
        ({"calibration_methods": ["MinMax", "Minmax"]}, "unknown ['Minmax']"),
        ({"float_convs": [1, -2]}, "float_convs must be >= 0"),
        ({"float_convs": []}, "needs calibration_methods and float_convs"),
        ({"calibration_images": 0}, "calibration_images must be at least 1"),
        ({"fallback_images": -1}, "fallback_images must be >= 0"),
        ({"calibrations": 8}, "unknown ExportParams keys"),
    ],
)
def test_bad_export_settings_are_refused_with_the_reason(tmp_path, export, message):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"export": export}))
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_params(path)


def test_quantize_off_needs_no_calibration_settings():
    assert ExportParams(quantize=False, calibration_methods=(), float_convs=()).opset == 18


def test_known_calibration_methods_are_onnxruntimes():
    from onnxruntime.quantization import CalibrationMethod

    from ai_detector.pipeline.params import CALIBRATION_METHODS

    assert {method.name for method in CalibrationMethod} == CALIBRATION_METHODS
