"""Model metadata: round trip through metadata.json and refusal of inconsistent values."""

from __future__ import annotations

import json

import pytest

from ai_detector.inference.metadata import ModelMetadata


def test_round_trip(tmp_path):
    meta = ModelMetadata(
        labels=("Real", "AI-generated"), version="v7", fake_threshold=0.3, temperature=1.7
    )
    meta.save(tmp_path)
    assert ModelMetadata.load(tmp_path) == meta
    assert json.loads((tmp_path / "metadata.json").read_text())["labels"] == [
        "Real",
        "AI-generated",
    ]


def test_image_spec_comes_from_metadata():
    meta = ModelMetadata(labels=("Real", "Fake"), version="1", input_size=160, resize_size=182)
    assert (meta.image_spec.input_size, meta.image_spec.resize_size) == (160, 182)


@pytest.mark.parametrize(
    "changes",
    [
        {"labels": ("Real",)},
        {"real_label": "Authentic"},
        {"fake_threshold": 1.0},
        {"temperature": 0.0},
        {"resize_size": 100},
    ],
)
def test_inconsistent_metadata_is_refused(changes):
    values = {"labels": ("Real", "AI-generated"), "version": "1", **changes}
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
