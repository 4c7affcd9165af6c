"""Shortcut checks: a file attribute that gives the label away is flagged in the report and
the log; a balanced set is not; JPEG quality is read back from the quantisation tables."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from PIL import Image

from ai_detector.pipeline.data.shortcuts import (
    attribute_auc,
    estimate_jpeg_quality,
    image_attributes,
)
from ai_detector.pipeline.prepare import prepare
from tests.conftest import encode_image, repo_params, textured_image
from tests.datasets_helpers import write_folder_sources

PER_CLASS = 20


def write_set(root: Path, encode: dict[str, list[tuple[str, int]]]) -> str:
    """A folder source whose i-th file of class c is saved as encode[c][i % len] (format,
    JPEG quality); the pictures themselves are alike but for the fakes' tint."""
    for name, encodings in encode.items():
        (root / name).mkdir(parents=True)
        for index in range(PER_CLASS):
            fmt, quality = encodings[index % len(encodings)]
            image = textured_image((64, 48), seed=index + 100 * (name == "fake"), tint="none")
            options = {"quality": quality} if fmt == "JPEG" else {}
            suffix = ".jpg" if fmt == "JPEG" else ".png"
            (root / name / f"{index}{suffix}").write_bytes(encode_image(image, fmt, **options))
    sources = root.parent / "sources.yaml"
    write_folder_sources(sources, root)
    return str(sources)


@pytest.mark.parametrize("quality", [20, 50, 75, 90, 95, 100])
def test_jpeg_quality_is_estimated_from_the_quantisation_tables(quality):
    data = encode_image(textured_image((64, 64)), "JPEG", quality=quality)
    with Image.open(io.BytesIO(data)) as image:
        assert estimate_jpeg_quality(image) == quality


def test_a_png_has_no_jpeg_quality():
    with Image.open(io.BytesIO(encode_image(textured_image((600, 300)), "PNG"))) as image:
        assert estimate_jpeg_quality(image) is None
        assert image_attributes(image) == {
            "format": "PNG",
            "long_side": "<=768px",
            "megapixels": "<=0.3MP",
            "jpeg_quality": "not JPEG",
        }


def test_fake_png_against_real_jpeg_is_flagged(tmp_path, caplog):
    sources = write_set(tmp_path / "set", {"real": [("JPEG", 90)], "fake": [("PNG", 0)]})
    with caplog.at_level(logging.WARNING):
        report = prepare(
            repo_params("prepare", sources=sources, seed=1, deepfakes_from="", reconstruct_from=()),
            tmp_path / "out",
        )
    checks = report["shortcuts"]["groups"]["set"]["attributes"]
    assert checks["format"]["distribution"] == {
        "Real": {"JPEG": PER_CLASS},
        "AI-generated": {"PNG": PER_CLASS},
    }
    assert checks["format"]["auc"] == {"AI-generated": 1.0, "Real": 1.0}
    assert checks["format"]["flagged_labels"] == ["AI-generated", "Real"]
    assert checks["jpeg_quality"]["distribution"] == {
        "Real": {"q90-94": PER_CLASS},
        "AI-generated": {"not JPEG": PER_CLASS},
    }
    assert checks["jpeg_quality"]["flagged_labels"]
    assert not checks["long_side"]["flagged_labels"]  # every file is 64 x 48
    assert any(
        f.startswith("set: format predicts AI-generated") for f in report["shortcuts"]["flags"]
    )
    assert "shortcut: set: format predicts" in caplog.text


def test_a_quality_shortcut_is_flagged_when_the_format_is_the_same(tmp_path):
    sources = write_set(tmp_path / "set", {"real": [("JPEG", 97)], "fake": [("JPEG", 75)]})
    report = prepare(
        repo_params("prepare", sources=sources, seed=1, deepfakes_from="", reconstruct_from=()),
        tmp_path / "out",
    )
    checks = report["shortcuts"]["groups"]["set"]["attributes"]
    assert checks["jpeg_quality"]["flagged_labels"] == ["AI-generated", "Real"]
    assert not checks["format"]["flagged_labels"]


def test_a_balanced_set_is_not_flagged(tmp_path, caplog):
    mixed = [("JPEG", 90), ("PNG", 0)]
    sources = write_set(tmp_path / "set", {"real": mixed, "fake": mixed})
    with caplog.at_level(logging.INFO):
        report = prepare(
            repo_params("prepare", sources=sources, seed=1, deepfakes_from="", reconstruct_from=()),
            tmp_path / "out",
        )
    assert report["shortcuts"]["flags"] == []
    checks = report["shortcuts"]["groups"]["set"]["attributes"]
    assert checks["format"]["distribution"]["Real"] == {"JPEG": 10, "PNG": 10}
    assert max(checks["format"]["auc"].values()) < 0.6
    assert "no attribute predicts a label" in caplog.text


def test_an_attribute_unique_to_each_file_predicts_nothing():
    # Held-out scoring: a value never seen in the other folds carries no information.
    values = [f"size-{index}" for index in range(40)]
    assert attribute_auc(values, [index % 2 == 0 for index in range(40)]) == 0.5
