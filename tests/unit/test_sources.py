"""Each dataset layout becomes the same labelled records; mistakes in a layout are loud."""

from __future__ import annotations

import pytest

from ai_detector.pipeline.data.sources import SourceConfig, SourceError, read_source
from tests.datasets_helpers import (
    make_cifake_dataset,
    make_csv_dataset,
    make_folder_dataset,
    make_hf_dataset,
)

CLASSES = {"real": "Real", "fake": "AI-generated"}


def test_folder_layout(tmp_path):
    make_folder_dataset(tmp_path / "set", per_class=3)
    records = read_source(SourceConfig("set", "folder", str(tmp_path / "set"), CLASSES))
    assert sorted(r.label for r in records) == ["AI-generated"] * 3 + ["Real"] * 3
    assert all(len(r.sha256) == 64 and r.source == "set" for r in records)


def test_cifake_layout_keeps_its_test_split(tmp_path):
    make_cifake_dataset(tmp_path / "cifake", per_class=2)
    config = SourceConfig(
        "cifake", "split_folder", str(tmp_path / "cifake"), {"REAL": "Real", "FAKE": "AI-generated"}
    )
    records = read_source(config)
    assert len(records) == 8
    assert sorted({r.source_split for r in records}) == ["test", "train"]


def test_csv_layout(tmp_path):
    make_csv_dataset(tmp_path / "gon", per_class=2)
    config = SourceConfig(
        "gon", "csv", str(tmp_path / "gon"), {"REAL": "Real", "FAKE": "AI-generated"}
    )
    assert sorted(r.label for r in read_source(config)) == [
        "AI-generated",
        "AI-generated",
        "Real",
        "Real",
    ]


def test_hugging_face_layout_from_a_local_copy(tmp_path):
    make_hf_dataset(tmp_path / "odf", per_class=2)
    config = SourceConfig(
        "odf", "hf", str(tmp_path / "odf"), {"Real": "Real", "Deepfake": "Deepfake"}
    )
    records = read_source(config, cache_dir=tmp_path / "cache")
    assert sorted(r.label for r in records) == ["Deepfake"] * 4 + ["Real"] * 4
    assert sum(r.source_split == "test" for r in records) == 4
    assert all(
        (tmp_path / "cache" / "odf").joinpath(r.path.split("/")[-1]).is_file() for r in records
    )


def test_cap_per_class_is_stable(tmp_path):
    make_folder_dataset(tmp_path / "set", per_class=5)
    config = SourceConfig("set", "folder", str(tmp_path / "set"), CLASSES, max_per_class=2)
    first, second = read_source(config), read_source(config)
    assert len(first) == 4 and first == second


def test_unknown_class_folder_is_an_error(tmp_path):
    make_folder_dataset(tmp_path / "set", per_class=1, classes=("real", "fake", "maybe"))
    with pytest.raises(SourceError, match="'maybe'"):
        read_source(SourceConfig("set", "folder", str(tmp_path / "set"), CLASSES))


def test_empty_class_folder_is_an_error(tmp_path):
    make_folder_dataset(tmp_path / "set", per_class=1)
    (tmp_path / "set" / "fake" / "0.jpg").unlink()
    with pytest.raises(SourceError, match="holds no images"):
        read_source(SourceConfig("set", "folder", str(tmp_path / "set"), CLASSES))


def test_missing_folder_and_bad_layout(tmp_path):
    with pytest.raises(SourceError, match="is not a folder"):
        read_source(SourceConfig("x", "folder", str(tmp_path / "nope"), CLASSES))
    with pytest.raises(ValueError, match="layout"):
        SourceConfig("x", "zip", str(tmp_path), CLASSES)


def test_csv_naming_a_missing_file_is_an_error(tmp_path):
    make_csv_dataset(tmp_path / "gon", per_class=1)
    (tmp_path / "gon" / "images" / "img0.jpg").unlink()
    with pytest.raises(SourceError, match="missing file"):
        read_source(
            SourceConfig(
                "gon", "csv", str(tmp_path / "gon"), {"REAL": "Real", "FAKE": "AI-generated"}
            )
        )
