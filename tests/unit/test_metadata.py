"""Model metadata: round trip through metadata.json and refusal of inconsistent values."""

from __future__ import annotations

import json

import pytest

from ai_detector.inference.metadata import ModelMetadata
from tests.conftest import TINY_INPUT


def test_round_trip(tmp_path):
    meta = ModelMetadata(
        labels=("Real", "AI-generated"),
        version="v7",
        fake_threshold=0.3,
        temperature=1.7,
        **{**TINY_INPUT, "interpolation": "bicubic"},
    )
    meta.save(tmp_path)
    assert ModelMetadata.load(tmp_path) == meta
    assert json.loads((tmp_path / "metadata.json").read_text())["labels"] == [
        "Real",
        "AI-generated",
    ]


def test_image_spec_comes_from_metadata():
    values = {**TINY_INPUT, "input_size": 160, "resize_size": 182, "interpolation": "bicubic"}
    meta = ModelMetadata(labels=("Real", "Fake"), version="1", **values)
    spec = meta.image_spec
    assert (spec.input_size, spec.resize_size, spec.interpolation) == (160, 182, "bicubic")


def test_metadata_without_interpolation_reads_as_bilinear(tmp_path):
    """Models exported before the spec came from timm (the shipped default among them)
    were trained with bilinear resampling and must keep it."""
    data = {"labels": ["Real", "Fake"], "version": "1", **TINY_INPUT}
    (tmp_path / "metadata.json").write_text(json.dumps(data))
    assert ModelMetadata.load(tmp_path).image_spec.interpolation == "bilinear"


def test_missing_input_fields_are_errors(tmp_path):
    data = {"labels": ["Real", "Fake"], "version": "1", **TINY_INPUT}
    del data["mean"]
    (tmp_path / "metadata.json").write_text(json.dumps(data))
    with pytest.raises(TypeError, match="mean"):
        ModelMetadata.load(tmp_path)


@pytest.mark.parametrize(
    "changes",
    [
        {"labels": ("Real",)},
        {"real_label": "Authentic"},
        {"fake_threshold": 1.0},
        {"temperature": 0.0},
        {"resize_size": 100},
        {"interpolation": "cubic"},
    ],
)
def test_inconsistent_metadata_is_refused(changes):
    values = {"labels": ("Real", "AI-generated"), "version": "1", **TINY_INPUT, **changes}
    with pytest.raises(ValueError):
        ModelMetadata(**values)


def test_unknown_fields_are_errors(tmp_path):
    (tmp_path / "metadata.json").write_text(
        json.dumps({"labels": ["Real", "X"], "version": "1", "lables": []})
    )
    with pytest.raises(ValueError, match="lables"):
        ModelMetadata.load(tmp_path)


def test_missing_metadata_names_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        ModelMetadata.load(tmp_path)
