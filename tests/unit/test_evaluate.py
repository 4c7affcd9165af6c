"""The evaluate stage on a real (tiny) ONNX model and image files made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ai_detector.pipeline.data.records import Record, sha256_file, write_records
from ai_detector.pipeline.evaluate import evaluate, perturbations
from tests.conftest import encode_image, repo_params, textured_image

# The tiny model: red tint -> AI-generated, blue -> Deepfake, none -> Real.
TINTS = {"Real": "none", "AI-generated": "red", "Deepfake": "blue"}


def records(folder: Path, wrong: int = 0) -> Path:
    """Three test images per label from two sources; the first ``wrong`` get another label."""
    found = []
    for index, (label, tint) in enumerate(
        (label, tint) for label, tint in TINTS.items() for _ in range(3)
    ):
        path = folder / f"{index}.jpg"
        path.write_bytes(encode_image(textured_image(seed=index, tint=tint)))
        named = "Real" if index < wrong else label
        source = "a" if index % 2 else "b"
        found.append(Record(str(path), named, source, sha256_file(path), split="test"))
    path = folder / "records.csv"
    write_records(found, path)
    return path


def test_a_model_that_is_right_scores_full_marks(tiny_model_dir, tmp_path):
    plots = tmp_path / "plots"
    results = evaluate(repo_params("evaluate"), tiny_model_dir, records(tmp_path), plots)
    assert results["test"]["n"] == 9
    assert results["test"]["accuracy"] == 1.0 and results["test"]["macro_f1"] == 1.0
    assert set(results["per_source"]) == {"a", "b"}
    assert sum(r["n"] for r in results["per_source"].values()) == 9
    assert set(results["robustness"]) == {"clean", "jpeg_q50", "resize_half", "crop_center_60"}
    assert results["robustness"]["clean"]["macro_f1_drop"] == 0.0
    assert results["draft_shortcut"]["label_agreement"] == 1.0
    assert (plots / "confusion.csv").read_text().count("\n") == 10  # header + 9
    assert json.loads((plots / "roc.json").read_text())["roc"]


def test_wrong_labels_count_against_the_model(tiny_model_dir, tmp_path):
    # Images 3 and 4 are red (AI-generated) but labelled Real: 7 of 9 right.
    results = evaluate(repo_params("evaluate"), tiny_model_dir, records(tmp_path, wrong=5), None)
    assert results["test"]["accuracy"] == pytest.approx(7 / 9)
    per_class = results["test"]["per_class"]
    assert per_class["Real"]["recall"] == pytest.approx(3 / 5)
    assert per_class["AI-generated"]["precision"] == pytest.approx(1 / 3)


def test_robustness_figures_come_from_the_perturbed_images(tiny_model_dir, tmp_path):
    """A red frame around a grey middle: AI-generated to the tiny model until the centre
    crop cuts the frame away."""
    pixels = np.full((240, 320, 3), 128, np.uint8)
    pixels[:60], pixels[-60:], pixels[:, :80], pixels[:, -80:] = 255, 255, 255, 255
    pixels[..., 1:][pixels[..., 0] == 255] = 0
    path = tmp_path / "framed.png"
    path.write_bytes(encode_image(Image.fromarray(pixels), "PNG"))
    records = tmp_path / "records.csv"
    write_records([Record(str(path), "AI-generated", "a", sha256_file(path), "test")], records)
    robustness = evaluate(repo_params("evaluate"), tiny_model_dir, records, None)["robustness"]
    assert robustness["clean"]["accuracy"] == 1.0
    assert robustness["crop_center_60"]["accuracy"] == 0.0
    assert robustness["crop_center_60"]["macro_f1_drop"] > 0


def test_the_jpeg_perturbation_uses_the_configured_quality(make_image):
    data = make_image(size=(200, 150))
    low = perturbations(repo_params("evaluate", jpeg_quality=20))["jpeg_q20"](data)
    high = perturbations(repo_params("evaluate", jpeg_quality=95))["jpeg_q95"](data)
    assert len(low) < 0.6 * len(high)


def test_perturbations_change_the_bytes_and_keep_an_image(make_image):
    data = make_image(size=(200, 150))
    for name, transform in perturbations(repo_params("evaluate", jpeg_quality=40)).items():
        changed = transform(data)
        assert (changed == data) is (name == "clean"), name
        assert changed[:2] == b"\xff\xd8"  # still a JPEG


def test_a_model_without_the_records_labels_is_an_error(tiny_model_dir, tmp_path):
    path = tmp_path / "records.csv"
    write_records([Record(str(path), "Cat", "a", "0", split="test")], path)
    with pytest.raises(ValueError, match="no test records with labels"):
        evaluate(repo_params("evaluate"), tiny_model_dir, path, None)
